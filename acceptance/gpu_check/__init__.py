"""`gpu-check` (`make gpu-check`): build, assemble, serve and accept a GPU deployment in one command.

preflight.py refuses at once on a machine that cannot run it (standard library only, run by the
system python3); config.py holds a run's settings and each step's command line; machine.py adds
what the chosen interpreter and the ports lack; server.py starts, polls and stops `launch`;
run.py runs the steps and writes the report; cli.py is `python -m acceptance gpu-check` (its help
lists the steps). Nothing here imports the client side (tritonclient, locust) before the machine
passed: a refusal must not depend on it.
"""
