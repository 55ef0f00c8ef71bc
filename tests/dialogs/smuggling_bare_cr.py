"""SMTP smuggling variant bare_cr: never an end of data."""
from lib_smuggling import smuggle

smuggle(b'\r')
