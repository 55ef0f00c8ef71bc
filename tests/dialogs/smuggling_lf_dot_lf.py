"""SMTP smuggling variant lf_dot_lf: never an end of data."""
from lib_smuggling import smuggle

smuggle(b'\n.\n')
