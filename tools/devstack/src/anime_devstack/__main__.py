import signal

from anime_devstack.cli import main

status = main()
# Everything is stopped and the process only has to exit: a Ctrl-C still pending
# (a busy machine runs the handler late) must not turn a clean exit into a
# KeyboardInterrupt at the top level.
for handled in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(handled, signal.SIG_IGN)
raise SystemExit(status)
