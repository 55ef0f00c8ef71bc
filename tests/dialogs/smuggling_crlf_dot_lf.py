"""SMTP smuggling variant crlf_dot_lf: never an end of data."""
from lib_smuggling import smuggle

smuggle(b'\r\n.\n')
