"""Backends the gateway runs jobs on, behind one executor interface."""
