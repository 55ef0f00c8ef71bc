"""SMTP smuggling variant bare_lf: never an end of data."""
from lib_smuggling import smuggle

smuggle(b'\n')
