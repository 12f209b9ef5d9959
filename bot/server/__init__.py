"""Serving the Bolt app, over HTTP (uvicorn) or Socket Mode, with the scheduler beside it, and
stopping it without losing what was acknowledged.

`slack.py` checks the Slack credentials before anything is served; `socket_mode.py` is the Socket
Mode adapter that stops taking envelopes on a stop; `run.py` starts everything, says what is
listening once it is, and on SIGTERM/SIGINT finishes the acknowledged work before exiting;
`worker.py` is a process that serves nothing: it drains the outbox and runs the schedule.
May import: bot.web, bot.scheduler, bot.app and below.
"""

from bot.server.run import STOP_TIMEOUT, serve
from bot.server.slack import check_slack
from bot.server.worker import work

__all__ = ["STOP_TIMEOUT", "check_slack", "serve", "work"]
