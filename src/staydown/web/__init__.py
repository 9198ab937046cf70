"""The console and the public pages: server-rendered HTML (Jinja2 + HTMX), strict CSP, CSRF on every form."""
