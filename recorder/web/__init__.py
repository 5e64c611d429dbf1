"""The box's web server (`session-recorder web`): the phone page, its live status and the
sessions' media from one origin behind one login (aiohttp).

- `server`: `build_app`, the middlewares (login, same-origin commands, security headers);
- `auth`: the page password, login cookies, slowed failed logins;
- `static`: the built page with its real Content-Type, caching and compression;
- `proxy`: /mqtt, the page's MQTT over WebSockets carried to the box's broker on loopback.
"""
