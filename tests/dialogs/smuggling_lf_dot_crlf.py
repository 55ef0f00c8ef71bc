"""SMTP smuggling variant lf_dot_crlf: never an end of data."""
from lib_smuggling import smuggle

smuggle(b'\n.\r\n')
