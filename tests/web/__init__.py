"""The web server: its media routes, JSON API, login and page, over real HTTP on loopback."""
