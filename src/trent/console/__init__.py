"""The web console, served by `trent serve` under /console/ (docs/console.md).

Server-rendered HTML (Jinja2, autoescaped), no JavaScript: every page works in any browser, and a strict
Content-Security-Policy forbids scripts altogether. Every read and every action goes through the same handlers,
authorization and audit as the API, as the signed-in principal: the console never has more rights than they do.
"""
