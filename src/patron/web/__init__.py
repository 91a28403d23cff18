"""The web app: server-rendered pages (Jinja2 + htmx) for marketers, analysts and support.

A presentation layer over the domain services, like `app` is over HTTP/JSON: pages call
`<domain>.service` and render templates; charts fetch JSON from the page routes in
`pages/`. Sessions and CSRF live in `deps`, translations and locale formatting in `i18n`,
the Jinja2 environment in `templating`.
"""
