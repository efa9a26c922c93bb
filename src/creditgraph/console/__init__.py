"""Terminal presentation shared by the command line and the demo.

What belongs here: how money, rates, tables, progress bars, JSON and files for programs look
when a command or the demo writes them (display, progress), and the tables and printouts that
more than one interface shows (an ingest batch, training results, a decision). Nothing here
imports ``creditgraph.cli`` or ``creditgraph.demo``: both import from here, so neither depends
on the other to print alike.
"""
