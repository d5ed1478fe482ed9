"""Sub-commands of ``autocapx``, one module per command group.

These modules only build argparse parsers; each handler imports the subsystem it drives when it
runs, so ``autocapx --help`` stays instant and a broken subsystem (say, no GL) only affects the
commands that need it.
"""
