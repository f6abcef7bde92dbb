"""The operator's page (/operator): for whoever runs the server, and only for them.

It exists only when ADMIN_PASSWORD is set. The operator signs in with it; the session's signed-in flag is
a gr.State, kept on the server, so no visitor can set it. Every action checks it again, so calling the
endpoints directly without signing in is refused as well. The operator can:

  - promote a visitor's run (or any server checkpoint) to the server's default, for new visitors;
  - delete visitors' runs and server checkpoints (never the default in use);
  - export the corrections that visitors chose to share.

    with demo.route("Operator", "/operator"):
        OperatorPage(store, visitors, password).build()
"""

import logging
import secrets
import shutil
from pathlib import Path

import gradio as gr

from src import settings
from src.atomic import atomic_write
from src.model.checkpoint import CheckpointError, checkpoint_files, read_metadata
from src.reading.inference import ModelStore
from src.web import corrections
from src.web.clients import Failures, address
from src.web.visitors import Visitors

log = logging.getLogger(__name__)


class OperatorPage:
    def __init__(self, store: ModelStore, visitors: Visitors, password: str):
        self.store = store
        self.visitors = visitors
        self.password = password
        # Wrong passwords per address (MAX_SIGN_IN_FAILURES in 10 minutes), and 10 times that from all addresses.
        self.failures = Failures(settings.MAX_SIGN_IN_FAILURES, 600, total_limit=10 * settings.MAX_SIGN_IN_FAILURES)

    # ------------------------------------------------------------------------------------- checks
    def locked_text(self, request) -> str | None:
        """Why this address may not try a password now (None: it may)."""
        wait = self.failures.locked_for(address(request))
        if wait <= 0:
            return None
        return (
            f"Too many wrong passwords: sign-in is locked for {max(1, round(wait / 60))} more minute"
            f"{'s' * (round(wait / 60) > 1)}."
        )

    def check_sign_in(self, attempt, request: gr.Request = None):
        """The sign-in's validator: a locked address is refused before the queue, holding nothing."""
        locked = self.locked_text(request)
        return gr.validate(locked is None, locked or "")  # one input: the value itself, not a list

    def sign_in(self, attempt, request: gr.Request = None):
        locked = self.locked_text(request)  # again: the validator does not guard a direct call
        if locked:
            raise gr.Error(locked, print_exception=False)
        if not secrets.compare_digest(str(attempt or "").encode(), self.password.encode()):
            self.failures.add(address(request))  # counted, never slept on: a failure holds no worker
            log.warning("wrong operator password from %s", address(request))
            raise gr.Error("Wrong password.", print_exception=False)
        log.info("operator signed in")
        return True, gr.Column(visible=True), gr.Row(visible=False), *self.refresh(True)

    @staticmethod
    def _require(signed_in) -> None:
        if signed_in is not True:
            raise gr.Error("Sign in as the operator first.", print_exception=False)

    # ------------------------------------------------------------------------------------- the runs
    def runs(self) -> dict[str, Path]:
        """Every checkpoint the operator can act on: "server/NAME" and "visitor v-…/NAME" -> weights path."""
        found = {f"server/{name}": self.store.path_of(name) for name, _ in self.store.checkpoints()}
        for path in self.visitors.all_runs():
            found[f"visitor {path.parent.parent.name}/{path.name}"] = path
        return found

    def table(self) -> list[list]:
        rows = []
        for label, path in self.runs().items():
            try:
                meta = read_metadata(path)
            except CheckpointError:
                continue
            default = self.store.active is not None and path == self.store.path_of(self.store.active.name)
            rows.append([label, meta.get("test_acc"), meta.get("created", ""), "default" if default else ""])
        return rows

    def refresh(self, signed_in):
        self._require(signed_in)
        labels = list(self.runs())
        return gr.Dropdown(choices=labels, value=None), self.table(), self.status()

    def status(self) -> str:
        v = self.visitors
        return (
            f"Default model: **{self.store.active.name if self.store.active else 'none'}**. "
            f"Visitor data: {v.usage() / 1e6:.1f} MB of {v.limits.total_bytes / 1e6:.0f} MB; "
            f"{len(v.shared_correction_files())} shared corrections."
        )

    def _pick(self, label) -> Path:
        path = self.runs().get(label)
        if path is None:
            raise gr.Error("Pick a run from the list (it may have been removed meanwhile).", print_exception=False)
        return path

    def promote(self, label, signed_in):
        """Make a run the server's default: copied into CHECKPOINT_DIR (if it is a visitor's), then loaded."""
        self._require(signed_in)
        source = self._pick(label)
        name = source.name
        if source.parent.resolve() != self.store.directory.resolve():
            name = f"promoted-{source.name}"
            # novelty statistics and JSON first, weights last: the store lists weights files only
            for src, dst in zip(checkpoint_files(source)[::-1], checkpoint_files(self.store.directory / name)[::-1]):
                atomic_write(dst, lambda tmp, src=src: shutil.copyfile(src, tmp))
        try:
            self.store.promote(name)
        except CheckpointError as e:
            raise gr.Error(f"That run cannot be used, so the default stays: {e}", print_exception=False) from None
        log.info("operator promoted %s to the default model", name)
        return *self.refresh(signed_in), f"**{name}** is now the default for new visitors."

    def delete(self, label, signed_in):
        self._require(signed_in)
        path = self._pick(label)
        if self.store.active is not None and path == self.store.path_of(self.store.active.name):
            raise gr.Error("That is the default model in use: promote another one first.", print_exception=False)
        for p in checkpoint_files(path):
            p.unlink(missing_ok=True)
        log.info("operator deleted %s", label)
        return *self.refresh(signed_in), f"Deleted {label}."

    def export(self, signed_in):
        self._require(signed_in)
        shared = self.visitors.shared_correction_files()
        if not shared:
            raise gr.Error("No visitor has shared corrections yet.", print_exception=False)
        return str(corrections.archive(shared, self.visitors.downloads.folder()))

    # --------------------------------------------------------------------------------------- page
    def build(self) -> None:
        """The page's components and events (call inside `with demo.route(...)`)."""
        gr.Markdown("# Operator\nFor whoever runs this server. Visitors never see this page's controls.")
        signed_in = gr.State(False)
        with gr.Row() as login:
            password = gr.Textbox(label="Operator password", type="password", elem_id="operator-password")
            sign_in_button = gr.Button("Sign in", elem_id="operator-sign-in")
        with gr.Column(visible=False) as controls:
            status = gr.Markdown("", elem_id="operator-status")
            runs_table = gr.Dataframe(
                headers=["run", "test_acc", "created", ""], interactive=False, elem_id="operator-runs"
            )
            run = gr.Dropdown([], label="Run", elem_id="operator-run", allow_custom_value=True)
            with gr.Row():
                promote_button = gr.Button(
                    "Make it the default for new visitors", variant="primary", elem_id="operator-promote"
                )
                delete_button = gr.Button("Delete it", variant="stop", elem_id="operator-delete")
                refresh_button = gr.Button("Refresh", elem_id="operator-refresh")
            result = gr.Markdown("", elem_id="operator-result")
            export_button = gr.Button("Export shared corrections (.zip)", elem_id="operator-export")
            export_file = gr.File(label="Shared corrections", interactive=False)

        listing = [run, runs_table, status]
        for event, api_name in ((sign_in_button.click, "operator_sign_in"), (password.submit, False)):
            event(
                self.sign_in,
                [password],
                [signed_in, controls, login, *listing],
                api_name=api_name,
                validator=self.check_sign_in,
            )
        refresh_button.click(self.refresh, signed_in, listing, api_name="operator_runs")
        promote_button.click(self.promote, [run, signed_in], [*listing, result], api_name="operator_promote")
        delete_button.click(self.delete, [run, signed_in], [*listing, result], api_name="operator_delete")
        export_button.click(self.export, signed_in, export_file, api_name="operator_export")
