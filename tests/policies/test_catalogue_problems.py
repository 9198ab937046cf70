"""Each kind of catalogue mistake is reported once, at its line and column, in plain words."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from staydown.policies import (
    MAX_CATALOGUE_BYTES,
    CatalogueError,
    Policy,
    Problem,
    check_catalogue_file,
    check_catalogue_text,
    format_problems,
    load_catalogue,
)


def only(text: str | bytes) -> Problem:
    problems = check_catalogue_text(text, name="cat.yaml")
    assert len(problems) == 1, format_problems(problems)
    return problems[0]


def test_minimal_catalogue_is_valid(minimal: str) -> None:
    assert check_catalogue_text(minimal) == []
    catalogue = load_catalogue(minimal)
    assert list(catalogue.policies) == ["spam", "csam"]


def test_unknown_key(minimal, edit, position) -> None:
    text = edit(minimal, "    severity: low\n", "    severity: low\n    colour: blue\n")
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "colour:")
    assert problem.path == "policies[0].colour"
    assert problem.message == "unknown field 'colour'"
    assert str(problem) == f"cat.yaml:{problem.line}:5: policies[0].colour: unknown field 'colour'"


def test_misspelt_key_suggests_the_right_one(minimal, edit, position) -> None:
    text = edit(minimal, "    severity: low\n", "    severty: low\n")
    problems = check_catalogue_text(text)
    messages = {p.path: p.message for p in problems}
    assert messages["policies[0].severty"] == "unknown field 'severty'; did you mean 'severity'?"
    assert messages["policies[0].severity"] == "required field 'severity' is missing"


def test_bad_enum(minimal, edit, position) -> None:
    text = edit(minimal, "STATEMENT_CATEGORY_OTHER_VIOLATION_TC", "STATEMENT_CATEGORY_FOO")
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "dsa_category: STATEMENT_CATEGORY_FOO")
    assert problem.path == "policies[0].dsa_category"
    assert problem.message.startswith(
        "'STATEMENT_CATEGORY_FOO' is not a DSA statement category; expected one of STATEMENT_CATEGORY_ANIMAL_WELFARE, "
    )


def test_bad_keyword_points_at_the_list_item(minimal, edit, position) -> None:
    text = edit(
        minimal, "[KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL]", "[KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL, KEYWORD_PHISHNG]"
    )
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "KEYWORD_PHISHNG")
    assert problem.path == "policies[1].dsa_keywords[1]"
    assert "did you mean KEYWORD_PHISHING" in problem.message


def test_keyword_outside_the_category(minimal, edit, position) -> None:
    text = edit(
        minimal, "[KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL]", "[KEYWORD_CHILD_SEXUAL_ABUSE_MATERIAL, KEYWORD_HATE_SPEECH]"
    )
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "KEYWORD_HATE_SPEECH")
    assert "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH" in problem.message
    # Naming the category as an addition makes the keyword legitimate.
    fixed = edit(
        text,
        "    dsa_keywords: [KEYWORD_CHILD",
        "    dsa_category_additions: [STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH]\n    dsa_keywords: [KEYWORD_CHILD",
    )
    assert check_catalogue_text(fixed) == []


def test_bad_severity_and_action(minimal, edit, position) -> None:
    text = edit(minimal, "severity: low", "severity: urgent")
    text = edit(text, "[remove, strike]", "[remove, vanish]")
    problems = check_catalogue_text(text)
    assert [(p.line, p.column) for p in problems] == [position(text, "severity: urgent"), position(text, "vanish")]
    assert problems[0].message == "'urgent' is not a severity; expected one of critical, high, medium, low"
    assert problems[1].path == "policies[0].default_actions[1]"


def test_missing_field_points_at_the_policy(minimal, edit, position) -> None:
    text = edit(minimal, "    title: Spam\n", "")
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "id: spam")
    assert problem.path == "policies[0].title"
    assert problem.message == "required field 'title' is missing"


def test_missing_field_in_a_nested_mapping(minimal, edit, position) -> None:
    text = edit(minimal, "        legal_reference: 18 U.S.C. 2252A\n", "")
    problem = only(text)
    # The ground is written as a list item; the problem sits at that item.
    assert (problem.line, problem.column) == position(text, "type: illegal_content")
    assert problem.path == "policies[1].ground[0].legal_reference"


def test_single_ground_mapping_paths_have_no_phantom_index(minimal, edit, position) -> None:
    text = edit(minimal, '      reference: "Terms: Spam"\n', '      reference: ""\n')
    problem = only(text)
    assert (problem.line, problem.column) == position(text, 'reference: ""')
    assert problem.path == "policies[0].ground.reference"
    assert problem.message == "must not be empty"


def test_bad_ground_type(minimal, edit, position) -> None:
    text = edit(minimal, "type: terms_of_service", "type: contract")
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "type: contract")
    assert problem.message == "'contract' is not a ground type; expected one of illegal_content, terms_of_service"


def test_duplicate_id(minimal, edit, position) -> None:
    text = edit(minimal, "  - id: csam\n", "  - id: spam\n")
    problems = check_catalogue_text(text)
    duplicate = [p for p in problems if "already used" in p.message]
    assert len(duplicate) == 1
    assert (duplicate[0].line, duplicate[0].column) == position(text, "id: spam", nth=2)
    assert duplicate[0].path == "policies[1].id"
    assert f"already used on line {position(text, 'id: spam')[0]}" in duplicate[0].message


def test_duplicate_yaml_key_is_not_silently_dropped(minimal, edit, position) -> None:
    text = edit(minimal, "    rule: Do not post spam.\n", "    rule: Do not post spam.\n    rule: Anything goes.\n")
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "rule: Anything")
    assert "appears twice" in problem.message and f"line {position(text, 'rule: Do not')[0]}" in problem.message


@pytest.mark.parametrize(
    ("notice", "expected"),
    [
        ('"Appeal at {appeal_url} {foo}"', "unknown placeholder {foo}; known: {measure}, "),
        ('"Appeal at {appeal_url} {0}"', "'{0}' is not a plain placeholder"),
        ('"Appeal at {appeal_url} {measure.__class__}"', "is not a plain placeholder"),
        ('"Appeal at {appeal_url} {measure!r}"', "is not a plain placeholder"),
        ('"Appeal at {appeal_url} }"', "unbalanced { or }"),
        ('"We removed it: {measure}."', "include {appeal_url}"),
    ],
)
def test_bad_notice_placeholders(minimal, edit, position, notice: str, expected: str) -> None:
    text = edit(minimal, '"We removed your content ({measure}). Appeal at {appeal_url}."', notice)
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "notice: " + notice)
    assert problem.path == "policies[1].notice"
    assert expected in problem.message


def test_literal_braces_are_allowed(minimal, edit) -> None:
    text = edit(minimal, 'Appeal at {appeal_url}."', 'Appeal at {appeal_url} {{sic}}."')
    assert check_catalogue_text(text) == []


def test_bad_placeholder_in_a_translation(minimal, edit, position) -> None:
    text = edit(
        minimal, "        title: Spam (de)\n", '        title: Spam (de)\n        notice: "Einspruch: {appeal_link}"\n'
    )
    problem = only(text)
    assert (problem.line, problem.column) == position(text, 'notice: "Einspruch')
    assert problem.path == "policies[0].translations.de.notice"
    assert "unknown placeholder {appeal_link}" in problem.message


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (
            "catalogue_version: 1\npolicies:\n\t- id: x\n",
            3,
            "'\\t' that cannot start any token (indent with spaces, not tabs)",
        ),
        ("catalogue_version: 1\npolicies: [a, b\nnext: 1\n", 3, "flow sequence: expected ',' or ']'"),
        ("catalogue_version: 1\n  policies: []\n", 2, "mapping values are not allowed here"),
        ("catalogue_version: 1\n---\npolicies: []\n", 2, "expected a single document"),
    ],
)
def test_malformed_yaml_reports_its_line(text: str, line: int, fragment: str) -> None:
    problem = only(text)
    assert problem.line == line
    assert problem.message.startswith("YAML syntax: ")
    assert fragment in problem.message


def test_child_safety_policy_without_ncmec_type(minimal, edit, position) -> None:
    text = edit(minimal, "    ncmec_incident_type: Child Pornography (possession, manufacture, and distribution)\n", "")
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "child_safety: true")
    assert problem.path == "policies[1].child_safety"
    assert problem.message.startswith("a child-safety policy needs ncmec_incident_type, one of: ")
    assert "Online Enticement of Children for Sexual Acts" in problem.message


def test_child_safety_rules_each_at_their_line(minimal, edit, position) -> None:
    text = edit(minimal, "    bank_confirmed: true\n", "    bank_confirmed: false\n")
    text = edit(text, "severity: critical", "severity: high")
    text = edit(text, "- type: illegal_content", "- type: terms_of_service")
    text = edit(text, "legal_reference: 18 U.S.C. 2252A", "reference: 18 U.S.C. 2252A")
    text = edit(text, "legal_tracks: [ncmec]", "legal_tracks: [dsa_notice]")
    problems = check_catalogue_text(text)
    got = {(p.path, p.line) for p in problems}
    assert got == {
        ("policies[1].ground", position(text, "ground:", nth=2)[0]),
        ("policies[1].severity", position(text, "severity: high")[0]),
        ("policies[1].bank_confirmed", position(text, "bank_confirmed: false", nth=2)[0]),
        ("policies[1].legal_tracks", position(text, "legal_tracks:")[0]),
    }, format_problems(problems)


def test_ncmec_type_without_child_safety(minimal, edit, position) -> None:
    text = edit(minimal, "    severity: low\n", "    severity: low\n    ncmec_incident_type: Child Sex Trafficking\n")
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "ncmec_incident_type: Child Sex")
    assert "only a child-safety policy" in problem.message


def test_bad_ncmec_type_lists_the_real_ones(minimal, edit) -> None:
    text = edit(minimal, "Child Pornography (possession, manufacture, and distribution)", "CSAM")
    problem = only(text)
    assert "'CSAM' is not a CyberTipline incident type" in problem.message
    assert "Child Pornography (possession, manufacture, and distribution)" in problem.message


def test_strike_thresholds_must_rise(minimal, edit, position) -> None:
    text = edit(minimal, "      suspend_at: 2\n", "      suspend_at: 5\n")
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "strike:\n      weight")
    assert problem.path == "policies[1].strike"
    assert problem.message == "thresholds must rise: warn_at < suspend_at < terminate_at, got 1, 5, 3"


def test_terminate_needs_immediate_termination(minimal, edit, position) -> None:
    text = edit(minimal, "      terminate_immediately: true\n", "")
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "terminate]")
    assert problem.path == "policies[1].default_actions[1]"


def test_exclusive_actions(minimal, edit, position) -> None:
    text = edit(minimal, "[remove, strike]", "[remove, disable, strike]")
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "disable")
    assert problem.message == "'remove' and 'disable' exclude each other"


def test_version_must_be_a_positive_number(minimal, edit, position) -> None:
    text = edit(minimal, "    version: 2\n", '    version: "2"\n')
    problem = only(text)
    assert (problem.line, problem.column) == position(text, 'version: "2"')
    assert problem.message == "expected a whole number, got the text '2'; remove the quotes"
    text = edit(minimal, "    version: 2\n", "    version: 0\n")
    assert only(text).message == "must be at least 1, got 0"


def test_ids_are_slugs(minimal, edit) -> None:
    problem = only(edit(minimal, "id: spam", "id: Spam Policy"))
    assert problem.message.startswith("'Spam Policy' is not a policy id")


def test_booleans_are_strict(minimal, edit) -> None:
    problem = only(
        edit(minimal, "    ncii: false\n    bank_confirmed: false\n", '    ncii: false\n    bank_confirmed: "no"\n')
    )
    assert problem.message == "expected true or false, got the text 'no'"


def test_unquoted_norwegian_is_a_boolean(minimal, edit, position) -> None:
    text = edit(minimal, "      de:\n", "      no:\n")
    problem = only(text)
    assert (problem.line, problem.column) == position(text, "no:")
    assert problem.path == "policies[0].translations.no"
    assert "quote it" in problem.message


def test_english_is_not_a_translation(minimal, edit) -> None:
    problem = only(edit(minimal, "      de:\n", "      en:\n"))
    assert problem.path == "policies[0].translations.en"


def test_every_problem_in_every_policy_is_reported(minimal, edit) -> None:
    text = edit(minimal, "severity: low", "severity: urgent")
    text = edit(text, "severity: critical", "severity: grave")
    text = edit(text, "catalogue_version: 1", "catalogue_version: 0")
    assert [p.path for p in check_catalogue_text(text)] == [
        "catalogue_version",
        "policies[0].severity",
        "policies[1].severity",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the catalogue is empty"),
        ("- a\n- b\n", "the catalogue must be a mapping"),
        ("policies.yaml", "(to load a file, pass a pathlib.Path)"),
        ("a: &x {k: 1}\nb: *x\n", "anchors and aliases"),
        ("<<: {catalogue_version: 1}\n", "merge keys (<<) are not allowed"),
        ("a: !!python/object:os.system x\n", "could not determine a constructor"),
        ("catalogue_version: 1\npolicies: []\n", "needs at least 1 item"),
        ("catalogue_version: 1\x0c\n", "character U+000C is not allowed"),
    ],
)
def test_document_shape(text: str, message: str) -> None:
    problems = check_catalogue_text(text)
    assert any(message in p.message for p in problems), format_problems(problems)


def test_deep_nesting_is_refused() -> None:
    for depth in (40, 5000):
        problems = check_catalogue_text("a: " + "[" * depth + "]" * depth)
        assert len(problems) == 1 and "nested" in problems[0].message


def test_size_limit() -> None:
    text = "catalogue_version: 1\n" + "#" * MAX_CATALOGUE_BYTES
    problem = only(text)
    assert problem.line is None
    assert "at most 1048576 bytes (1 MiB)" in problem.message


def test_file_size_limit_reads_no_more_than_needed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"#" * (3 * MAX_CATALOGUE_BYTES))
    [problem] = check_catalogue_file(path)
    assert f"{MAX_CATALOGUE_BYTES + 1} bytes" in problem.message


def test_not_utf8() -> None:
    problem = only(b"catalogue_version: 1\npolicies:\n  - title: caf\xe9\n")
    assert (problem.line, problem.column) == (3, 15)
    assert problem.message == "the file is not valid UTF-8"


def test_check_file_and_load_file(tmp_path: Path, minimal: str, edit) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(minimal, encoding="utf-8")
    assert check_catalogue_file(good) == []
    assert check_catalogue_file(str(good)) == []
    assert load_catalogue(good).source == str(good)

    bad = tmp_path / "bad.yaml"
    bad.write_text(edit(minimal, "severity: low", "severity: urgent"), encoding="utf-8")
    [problem] = check_catalogue_file(bad)
    assert str(problem).startswith(f"{bad}:12:5: policies[0].severity: ")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(bad)
    assert caught.value.problems == (problem,)
    assert str(caught.value) == f"{problem}\n1 problem"


def test_unreadable_file(tmp_path: Path) -> None:
    [problem] = check_catalogue_file(tmp_path / "missing.yaml")
    assert problem.message.startswith("cannot read the file")
    with pytest.raises(CatalogueError):
        load_catalogue(tmp_path / "missing.yaml")


def test_problem_as_plain_data() -> None:
    problem = Problem("x.yaml", 3, 7, "policies[0].id", "bad")
    assert problem.to_dict() == {"source": "x.yaml", "line": 3, "column": 7, "path": "policies[0].id", "message": "bad"}
    assert str(Problem("x.yaml", None, None, "", "empty")) == "x.yaml: empty"
    assert format_problems([]) == "no problems"


def test_policy_model_raises_rule_problems_without_the_loader(minimal) -> None:
    data = load_catalogue(minimal).get("csam").model_dump()
    data["bank_confirmed"] = False
    with pytest.raises(pydantic.ValidationError) as caught:
        Policy.model_validate(data)
    assert "bank_confirmed: a child-safety policy must bank" in str(caught.value)
