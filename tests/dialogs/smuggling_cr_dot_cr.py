"""SMTP smuggling variant cr_dot_cr: never an end of data."""
from lib_smuggling import smuggle

smuggle(b'\r.\r')
