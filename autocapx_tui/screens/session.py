"""The session screen: six panes over one session, fed by worker threads.

Two long-lived thread workers read the store, each on its own connection: one follows the
event log (every 0.1 s, one batch in flight, so a slow link is never buried under a backlog)
and one queries the tables of the pane on screen (every second, and at once when the pane
changes). They post messages (:mod:`autocapx_tui.messages`); the handlers here are the only
code that changes what is shown, and they run on the UI thread without touching SQLite.
Commands (pause, resume, stop, approve, veto) are rows written into the store by short
workers; the engine applies them. Database trouble ends a worker with an error: one handler
shows it in a banner, keeps the panes as they were, and starts the worker again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Header, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

from autocapx_tui.engine_process import start_detached
from autocapx_tui.feed import SessionFeed, TrialView
from autocapx_tui.messages import (
    CommandSent,
    EventsRead,
    EvidenceLoaded,
    ResumeStarted,
    RunnerSeen,
    StoreReachable,
    TablesFetched,
    TrialLoaded,
)
from autocapx_tui.palette import SessionCommands
from autocapx_tui.pane_reads import TABLE_PANES, PaneReader, read_pane
from autocapx_tui.queries import StoreQueries
from autocapx_tui.widgets.dialogs import ChoiceDialog, ReasonDialog
from autocapx_tui.widgets.key_hints import KeyHints
from autocapx_tui.widgets.live import LivePane
from autocapx_tui.widgets.store_status import StoreStatus
from autocapx_tui.widgets.timeline import TimelinePane
from autocapx_tui.widgets.trials import TrialsPane
from engine.invocation import command_prefix, session_argument
from engine.store.liveness import RunnerState
from engine.store.sessions import sessions_root

TAB_TITLES = {
    "overview": "Overview",
    "live": "Live",
    "timeline": "Timeline",
    "library": "Library",
    "stats": "Stats",
    "trials": "Trials",
    "plots": "Plots",
}
TABS = tuple(TAB_TITLES)
LIVE_TABS = ("live", "timeline")
EVENT_TICK_S = 0.1
TABLE_TICK_S = 1.0
RETRY_S = 2.0
EVENT_BATCH = 5000
WORKER_GROUPS = ("events", "tables", "trial", "command", "resume")


@dataclass(frozen=True)
class FetchMark:
    """When a pane's data was last read: the event it had seen, what the pane asked for, and
    what the read cost. A pane is read again when the user asks for something else (at once),
    or when the session moved on, but then no more often than every second nor than ten
    times its own cost allows: a pane that takes 200 ms over a 100,000-trial session is
    refreshed every 2 s, so the reads (in the pane reader process) never take more than a
    tenth of a core from the sweep and the console beside them."""

    seq: object
    request: object
    at: float = 0.0
    cost_s: float = 0.0

    def done(self, cost_s: float) -> FetchMark:
        return FetchMark(self.seq, self.request, time.monotonic(), cost_s)

    def wants_fetch(self, now: FetchMark) -> bool:
        if now.request != self.request:
            return True
        if now.seq == self.seq:
            return False
        return time.monotonic() - self.at >= max(TABLE_TICK_S, 10 * self.cost_s)


FRESH = FetchMark(-1, object())
"""No read yet: every pane wants its first."""


def one_line(error: BaseException | None) -> str:
    """A worker's error as the banner shows it."""
    if error is None:
        return "unknown error"
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


class SessionScreen(Screen):
    """Everything about one session: the panes, their data, the commands sent from here."""

    DEFAULT_CSS = """
    SessionScreen TabbedContent {
        height: 1fr;
    }
    """
    COMMANDS = {SessionCommands}
    BINDINGS = [
        *(Binding(str(i), f"show_tab('{tab}')", tab) for i, tab in enumerate(TABS, start=1)),
        Binding("p", "pause", "pause"),
        Binding("r", "resume", "resume"),
        Binding("s", "stop", "stop"),
        Binding("a", "approve", "approve", show=False),
        Binding("v", "veto", "veto", show=False),
        Binding("f", "follow", "follow", show=False),
        Binding("e", "show_errors", "errors", show=False),
    ]

    def __init__(self, db: Path, *, live_updates: bool = True) -> None:
        super().__init__()
        self.db = Path(db)
        self.live_updates = live_updates
        """False: nothing is read until :meth:`refresh_now` (tests, benches, snapshots)."""
        self.feed = SessionFeed()
        self.pinned: TrialView | None = None
        """A trial the user chose (finished: read back from its blocks; running: live)."""
        self.followed: str | None = None
        """The running trial follow mode stays on until it ends."""
        self.runner: RunnerState | None = None
        self._sent: dict[int, str] = {}
        """Commands sent from here, by id, until the engine says what it did with them."""
        self._resume_started = False
        self._shown_run: int | None = None
        """The run the live panes show (set on the UI thread, read by the table worker)."""
        self.session_status = ""
        self._stale_live = True
        self._applied = threading.Event()
        self._wake_tables = threading.Event()
        self._wanted_tab = "overview"
        self._inline: StoreQueries | None = None

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with TabbedContent(initial="overview"):
            for i, (tab, title) in enumerate(TAB_TITLES.items(), start=1):
                with TabPane(f"{i} {title}", id=tab):
                    yield self._pane(tab)
        yield KeyHints()
        yield StoreStatus()

    @staticmethod
    def _pane(tab: str):
        return LivePane() if tab == "live" else TABLE_PANES[tab]()

    def on_mount(self) -> None:
        self.sub_title = self.db.parent.name
        self._trials_pane = self.query_one(TrialsPane)
        if self.live_updates:
            self.read_events()
            self.read_tables()
        else:
            self.refresh_now(everything=True)

    def on_unmount(self) -> None:
        self.workers.cancel_node(self)
        self._applied.set()
        self._wake_tables.set()
        if self._inline is not None:
            self._inline.close()

    @property
    def active_tab(self) -> str:
        return self.query_one(TabbedContent).active

    @property
    def status_bar(self) -> StoreStatus:
        return self.query_one(StoreStatus)

    # ------------------------------------------------------------------ reading the store
    @work(thread=True, exit_on_error=False, group="events", name="event reader")
    def read_events(self) -> None:
        """Follow the event log from where the feed is; one batch in flight at a time."""
        worker = get_current_worker()
        queries = StoreQueries(self.db)
        try:
            seq = self.feed.last_seq
            reported = False
            while not worker.is_cancelled:
                batch = queries.events_since(seq, limit=EVENT_BATCH)
                if not reported:
                    self.post_message(StoreReachable())
                    reported = True
                if batch:
                    seq = batch[-1].seq
                    self._applied.clear()
                    self.post_message(EventsRead(batch))
                    while not self._applied.wait(0.5) and not worker.is_cancelled:
                        pass
                if len(batch) < EVENT_BATCH:
                    time.sleep(EVENT_TICK_S)
        finally:
            queries.close()

    @work(thread=True, exit_on_error=False, group="tables", name="table reader")
    def read_tables(self) -> None:
        """Query the tables of the pane on screen: every second, and when the pane changes."""
        worker = get_current_worker()
        queries = StoreQueries(self.db)
        reader: PaneReader | None = None
        fetched: dict[str, FetchMark] = {}
        try:
            reader = PaneReader(self.db)
            reported = False
            while not worker.is_cancelled:
                self.post_message(RunnerSeen(queries.runner_state()))
                tab = self._wanted_tab
                if tab in TABLE_PANES:
                    mark = FetchMark(self._state_of(tab, queries), self._request_of(tab))
                    if fetched.get(tab, FRESH).wants_fetch(mark):
                        t0 = time.monotonic()
                        data = reader.read(tab, mark.request)
                        fetched[tab] = mark.done(time.monotonic() - t0)
                        self.post_message(TablesFetched(tab, data))
                if not reported:
                    self.post_message(StoreReachable())
                    reported = True
                self._wake_tables.wait(TABLE_TICK_S)
                self._wake_tables.clear()
        finally:
            if reader is not None:
                reader.close()
            queries.close()

    @staticmethod
    def _state_of(tab: str, queries: StoreQueries) -> object:
        """What a pane's data follows: the newest event, and for the overview also the
        runner's wait for a lock (a note beside the database, not an event)."""
        seq = queries.last_seq()
        return (seq, queries.runner_waiting_s()) if tab == "overview" else seq

    def _request_of(self, tab: str) -> object:
        """What a pane asks for besides the session's state (a frozen value)."""
        if tab == "trials":
            return self._trials_pane.request
        if tab == "timeline":
            return self._shown_run
        return None

    def refresh_now(self, everything: bool = False) -> int:
        """Read the store on this thread, as the workers would (for a console without live
        updates: tests, benches, snapshots); returns the events read."""
        if self._inline is None:
            self._inline = StoreQueries(self.db)
        batch = self._inline.events_since(self.feed.last_seq, limit=EVENT_BATCH)
        if batch:
            self._ingest(batch)
        self.on_runner_seen(RunnerSeen(self._inline.runner_state()))
        tabs = list(TABLE_PANES) if everything else [self.active_tab]
        for tab in tabs:
            if tab in TABLE_PANES:
                self._apply_tables(tab, read_pane(tab, self._request_of(tab), self._inline))
        if everything:
            self.render_live_all()
        return len(batch)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """The one place database trouble is handled: shown, then retried."""
        worker = event.worker
        if event.state != WorkerState.ERROR or worker.group not in WORKER_GROUPS:
            return
        problem = one_line(worker.error)
        if worker.group == "command":
            self.notify(f"could not send the command: {problem}", severity="error")
            return
        if worker.group == "trial":
            self.notify(f"could not open the trial: {problem}", severity="error")
            return
        if worker.group == "resume":
            self._resume_started = False
            self.notify(f"could not resume: {problem}", severity="error")
            return
        self.status_bar.trouble(problem, RETRY_S)
        restart = self.read_events if worker.group == "events" else self.read_tables
        self.set_timer(RETRY_S, restart)

    def on_store_reachable(self, _message: StoreReachable) -> None:
        if self.status_bar.in_trouble:
            self.status_bar.clear()

    # ------------------------------------------------------------------ messages
    def on_events_read(self, message: EventsRead) -> None:
        try:
            self._ingest(message.events)
        finally:
            self._applied.set()

    def _ingest(self, events) -> None:
        """Apply events; repaint the live panes only if one of them is on screen."""
        fresh = self.feed.apply(events)
        for command_id in [c for c in self._sent if c in self.feed.handled]:
            action = self._sent.pop(command_id)
            result = self.feed.handled[command_id]
            bad = result.startswith(("rejected", "ignored", "expired"))
            self.notify(f"{action}: {result}", severity="error" if bad else "information")
        if fresh or self._stale_live:
            self._stale_live = True
            if self.feed.status:
                self.session_status = self.feed.status
            if self.active_tab in LIVE_TABS:
                self.render_live()

    def on_tables_fetched(self, message: TablesFetched) -> None:
        if message.tab == self.active_tab:
            self._apply_tables(message.tab, message.data)

    def _apply_tables(self, tab: str, data) -> None:
        if tab == "overview":
            self.session_status = data["session"]["status"]
            data = {**data, "halted": self.feed.halted, "resume_command": self.resume_command()}
        if tab == "timeline":
            trial = self.current_trial()
            if trial is None or trial.run_id != data["run_id"]:
                return  # fetched for a trial no longer shown
            self.query_one(TimelinePane).apply(data, trial.key)
            return
        self.query_one(TABLE_PANES[tab]).apply(data)

    def on_runner_seen(self, message: RunnerSeen) -> None:
        runner = message.runner
        if runner == self.runner:
            return
        was = self.runner.state if self.runner else None
        self.runner = runner
        if runner.state == "alive":
            self._resume_started = False
        self.sub_title = f"{self.db.parent.name} · {runner.words()}"
        if was is not None and runner.state != was and runner.state in ("gone", "stalled"):
            self.notify(runner.words(), severity="warning", timeout=6)

    def resume_command(self) -> str:
        """``autocapx resume`` for this session, as the user can paste it here."""
        where = session_argument(self.db.parent, sessions_root(None))
        return f"{command_prefix()} resume {where}"

    def on_trial_loaded(self, message: TrialLoaded) -> None:
        trial = message.trial
        if trial is None:
            self.notify(f"trial run {message.run_id} is not in the store", severity="warning")
            return
        live = self.feed.trials.get(trial.key)
        if trial.finished is None and live is not None and live.run_id == trial.run_id:
            trial = live  # a running trial: pin the live view, which goes on updating
        self.pinned = trial
        self.render_live_all()
        self.action_show_tab("live")

    def on_command_sent(self, message: CommandSent) -> None:
        self._sent[message.command_id] = message.action
        self.notify(f"{message.action} sent; waiting for the engine (command {message.command_id})")

    # ------------------------------------------------------------------ live panes
    def current_trial(self) -> TrialView | None:
        """The pinned trial, else the followed one: follow stays on a trial until it ends,
        then moves to the newest trial still running (or the newest of all)."""
        if self.pinned is not None:
            return self.pinned
        trials = self.feed.trials
        followed = trials.get(self.followed) if self.followed else None
        if followed is not None and followed.finished is None:
            return followed
        running = [k for k in self.feed.order if k in trials and trials[k].finished is None]
        if running:
            self.followed = running[-1]
        elif self.feed.latest and followed is None:
            self.followed = self.feed.latest
        return trials.get(self.followed) if self.followed else None

    def render_live_all(self) -> None:
        trial = self.current_trial()
        self._shown_run = trial.run_id if trial else None
        self.query_one(LivePane).show(trial, self.pinned is not None)
        self._stale_live = False
        self._wake_tables.set()  # the timeline reads the blocks of the trial now shown
        if not self.live_updates and self._inline is not None:
            self._apply_tables(
                "timeline", read_pane("timeline", self._request_of("timeline"), self._inline)
            )

    def render_live(self) -> None:
        trial = self.current_trial()
        if trial is not None and trial.run_id != self._shown_run:
            self._shown_run = trial.run_id
            self._wake_tables.set()
        if self.active_tab == "live":
            self.query_one(LivePane).show(trial, self.pinned is not None)
        self._stale_live = False

    # ------------------------------------------------------------------ panes
    def action_show_tab(self, tab: str) -> None:
        self.query_one(TabbedContent).active = tab
        self._focus_pane(tab)

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._focus_pane(event.pane.id or "")

    def _focus_pane(self, tab: str) -> None:
        """Arrow keys should move through the pane's table (or scroll its log) at once; a pane
        that was off screen is brought up to date as it appears."""
        if tab != self._wanted_tab:
            self._wanted_tab = tab
            self._wake_tables.set()
        if tab in LIVE_TABS and self._stale_live:
            self.render_live()
        pane = self.query_one(f"TabPane#{tab}")
        targets = pane.query("TrialList") or pane.query("DataTable") or pane.query("#live-code")
        if targets:
            targets.first().focus()

    def selected_skill(self) -> dict | None:
        return self.query_one(TABLE_PANES["library"]).selected()

    @on(TrialsPane.Wanted)
    def _trials_wanted(self, _message: TrialsPane.Wanted) -> None:
        if self.live_updates:
            self._wake_tables.set()
        elif self._inline is not None:
            self._apply_tables(
                "trials", read_pane("trials", self._request_of("trials"), self._inline)
            )

    def action_show_errors(self) -> None:
        """Every run lost to an error, with its message (the trials pane, filtered)."""
        self.action_show_tab("trials")
        pane = self.query_one(TrialsPane)
        box = pane.query_one("#trials-filter")
        box.value = "error"
        box.add_class("shown")
        pane.set_filter("error")

    # ------------------------------------------------------------------ commands
    def send(self, action: str, args: dict | None = None) -> None:
        """Write a command row for the engine (off the UI thread; a locked store waits there).
        Refused at once when no runner is alive: it would wait for nobody."""
        if self.runner is not None and not self.runner.can_take_commands:
            self.notify(
                f"not sent: {self.runner.words()} · r resumes the session",
                severity="error",
            )
            return
        self._off_ui_thread("command", partial(self._post_sent, action, args))

    def _off_ui_thread(self, group: str, job: Callable[[], None]) -> None:
        """Run a short store job that posts its answer on a thread worker (its failure is
        handled by group in :meth:`on_worker_state_changed`); a console without live updates
        (tests, benches, snapshots) runs it here, so everything stays on one thread."""
        if self.live_updates:
            self.run_worker(job, thread=True, exit_on_error=False, group=group, name=group)
        else:
            job()

    def _post_sent(self, action: str, args: dict | None) -> None:
        self.post_message(CommandSent(action, self.send_now(action, args)))

    def send_now(self, action: str, args: dict | None = None) -> int:
        """Write a command row on this thread (quitting: the console is leaving anyway)."""
        queries = StoreQueries(self.db)
        try:
            return queries.send(action, args)
        finally:
            queries.close()

    def action_pause(self) -> None:
        self.send("pause")

    def action_resume(self) -> None:
        """Unpause a live runner; start a new runner when the old one is gone."""
        runner = self.runner
        if runner is None or runner.can_take_commands:
            self.send("resume")
            return
        if self._resume_started:
            self.notify("resume already started; waiting for the runner's first heartbeat")
            return
        command = self.resume_command()

        def decided(choice: str | None) -> None:
            if choice == "resume":
                self._resume_started = True
                self._start_resume()

        self.app.push_screen(
            ChoiceDialog(
                f"{runner.words()}. Resume the session in the background?\n  {command}",
                [("resume", "Resume it"), ("cancel", "Cancel")],
            ),
            decided,
        )

    @work(thread=True, exit_on_error=False, group="resume", name="resume")
    def _start_resume(self) -> None:
        """``autocapx resume --detach``, as the console starts ``run``: the new runner
        outlives the console; its own one-line error comes back if it cannot start."""
        start_detached("resume", self.db.parent.name, "--sessions-dir", str(self.db.parent.parent))
        self.post_message(ResumeStarted(self.resume_command()))

    def on_resume_started(self, message: ResumeStarted) -> None:
        self.notify(f"resume started ({message.command}); waiting for the runner")

    def action_stop(self) -> None:
        def decided(choice: str | None) -> None:
            if choice == "stop":
                self.send("stop")

        self.app.push_screen(
            ChoiceDialog(
                "Stop the sweep? Running trials are cut off and re-run on resume.",
                [("stop", "Stop"), ("cancel", "Cancel")],
            ),
            decided,
        )

    def _decide(self, action: str) -> None:
        """Approve or veto the selected skill: its evidence first, then a reason."""
        skill = self.selected_skill()
        if skill is None:
            self.notify("select a skill in the library pane first (4)", severity="warning")
            return
        self._off_ui_thread("trial", partial(self._post_evidence, action, skill))

    def _post_evidence(self, action: str, skill: dict) -> None:
        queries = StoreQueries(self.db)
        try:
            lines = queries.evidence(skill["id"])
        finally:
            queries.close()
        self.post_message(EvidenceLoaded(action, skill, lines))

    def on_evidence_loaded(self, message: EvidenceLoaded) -> None:
        skill, action = message.skill, message.action

        def done(reason: str | None) -> None:
            if reason:
                self.send(action, {"skill": skill["id"], "reason": reason})

        self.app.push_screen(ReasonDialog(action, skill["name"], message.lines), done)

    def action_approve(self) -> None:
        self._decide("approve")

    def action_veto(self) -> None:
        self._decide("veto")

    def action_follow(self) -> None:
        self.pinned = None
        self.followed = None
        self.render_live_all()

    @on(TrialsPane.Open)
    def open_trial(self, message: TrialsPane.Open) -> None:
        self._off_ui_thread("trial", partial(self._post_trial, message.run_id))

    def _post_trial(self, run_id: int) -> None:
        queries = StoreQueries(self.db)
        try:
            trial = queries.load_trial(run_id)
        finally:
            queries.close()
        self.post_message(TrialLoaded(trial, run_id))
