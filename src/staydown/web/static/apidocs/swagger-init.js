// Starts Swagger UI on /docs from a file, so that the page needs no inline script under the
// Content-Security-Policy. The spec's address is on the element (data-spec-url).
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    // No calls to the public validator service: everything stays on this origin.
    validatorUrl: null,
  });
});
