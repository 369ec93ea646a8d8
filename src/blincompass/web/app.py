"""The web application (ASGI, Starlette; server-rendered Jinja2 pages, no JavaScript).

Security, in one place:

* every page but the login page needs a live server-side session (:mod:`blincompass.registry.auth`);
  the cookie is ``HttpOnly``, ``SameSite=Lax`` and ``Secure`` when the application is reached over TLS
  (or ``secure_cookies=True``);
* every POST carries the session's CSRF token in the form (field ``csrf_token``); a POST without it, with
  another session's token, or from a foreign ``Origin`` is refused (403) before anything is read or
  written;
* logging in creates a new session (the pre-login one is deleted); logging out deletes it;
* every read and write goes through the registry's access layer as the logged-in user
  (:meth:`Registry.as_user`): a centre's data manager sees and changes only their centre, a monitor reads
  every centre and raises queries, a coordinator does everything; another centre's patient gives the same
  404 as an unknown one;
* Jinja2 autoescaping is on for every template; responses carry a strict Content-Security-Policy (no
  script at all, styles from this server only), ``X-Frame-Options: DENY``, ``nosniff`` and no-store
  caching.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import re
import shutil
import tempfile
import threading
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from blincompass.registry import auth
from blincompass.registry import queries as rq
from blincompass.registry.access import (
    AccessDenied,
    ImportRejected,
    PatientNotFound,
    Registry,
    ScopedRegistry,
    User,
)
from blincompass.web import forms as wf

__all__ = ["COOKIE", "WebConfig", "create_app"]

COOKIE = "bc_session"
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
MAX_UPLOAD = 50 * 1024 * 1024


@dataclass
class WebConfig:
    """Settings of one application instance."""

    registry: Registry
    protocol: Any = None  # the study's protocol (report, data cut-off)
    study_label: str = "built-in study"
    secure_cookies: bool | None = None  # None: Secure when the request came over https
    work_dir: Path | None = None  # report runs; default: a temporary folder


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


@dataclass
class Ctx:
    """One request: the session, the user and their scoped registry."""

    request: Request
    session: auth.Session | None
    user: User | None
    scoped: ScopedRegistry | None
    form: FormData | None
    new_cookie: str | None = None

    def need_user(self) -> ScopedRegistry:
        if self.scoped is None:
            raise HTTPError(401, "log in first")
        return self.scoped


def _env() -> Environment:
    env = Environment(loader=PackageLoader("blincompass.web", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["q"] = lambda s: quote(str(s), safe="")
    env.filters["utc"] = lambda t: t.strftime("%Y-%m-%d %H:%M:%S") if t else ""
    return env


def create_app(config: WebConfig) -> Any:
    """The ASGI application serving ``config.registry``."""
    reg = config.registry
    d = reg.dictionary
    env = _env()
    work = config.work_dir or Path(tempfile.mkdtemp(prefix="blincompass-web-"))
    report_lock = threading.Lock()
    cache = wf.PatientCache()
    static_css = (Path(__file__).parent / "static" / "style.css").read_bytes()

    def render(ctx: Ctx, name: str, code: int = 200, **values: Any) -> HTMLResponse:
        tpl = env.get_template(name)
        html = tpl.render(user=ctx.user, csrf=ctx.session.csrf_token if ctx.session else "", study=config.study_label,
                          dictionary=d, **values)
        return HTMLResponse(html, status_code=code)

    def secure(request: Request) -> bool:
        return config.secure_cookies if config.secure_cookies is not None else request.url.scheme == "https"

    def set_cookie(resp: Response, request: Request, token: str | None) -> None:
        if token is None:
            resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=secure(request))
        else:
            resp.set_cookie(COOKIE, token, path="/", httponly=True, samesite="lax", secure=secure(request),
                            max_age=auth.ABSOLUTE_SECONDS)

    def redirect(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    def page(handler: Callable[[Ctx], Response], *, login: bool = True) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a synchronous handler: session, CSRF check of every POST, errors as pages; the handler runs
        in a worker thread (database and Argon2 work do not block the event loop)."""

        async def endpoint(request: Request) -> Response:
            form = None
            if request.method == "POST":
                length = int(request.headers.get("content-length") or 0)
                if length > MAX_UPLOAD:
                    return HTMLResponse("request too large", status_code=413)
                form = await request.form(max_files=10, max_fields=500)
            try:
                return await run_in_threadpool(_run, request, form)
            finally:
                if form is not None:
                    await form.close()

        def _run(request: Request, form: FormData | None) -> Response:
            with reg.request_scope():  # one pooled connection for the whole request
                return _serve(request, form)

        def _serve(request: Request, form: FormData | None) -> Response:
            session, user = auth.load_session_user(reg, request.cookies.get(COOKIE))
            scoped = None
            if session is not None and session.user_name is not None:
                if user is None:  # the session's user is no longer registered
                    auth.end_session(reg, session)
                    session = None
                else:
                    scoped = ScopedRegistry(reg, user)
            ctx = Ctx(request, session, user, scoped, form)
            if request.method == "POST":
                origin = request.headers.get("origin")
                if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
                    return _error(ctx, 403, "cross-site request refused")
                token = form.get("csrf_token") if form is not None else None
                if session is None or not isinstance(token, str) or not session.csrf_ok(token):
                    return _error(ctx, 403, "the form has expired or did not come from this site; reload the page "
                                            "and try again (nothing was saved)")
            if login and user is None:
                if request.method == "GET":
                    return redirect("/login?next=" + quote(request.url.path, safe="/"))
                return _error(ctx, 401, "log in first (nothing was saved)")
            try:
                resp = handler(ctx)
            except HTTPError as exc:
                return _error(ctx, exc.status, exc.message)
            except PatientNotFound as exc:
                return _error(ctx, 404, str(exc))
            except rq.QueryNotFound as exc:
                return _error(ctx, 404, str(exc))
            except AccessDenied as exc:
                return _error(ctx, 403, str(exc) + " (nothing was saved)")
            if ctx.new_cookie is not None:
                set_cookie(resp, request, ctx.new_cookie or None)
            return resp

        return endpoint

    def _error(ctx: Ctx, status: int, message: str) -> HTMLResponse:
        return render(ctx, "error.html", code=status, status_code=status, message=message)

    def field(ctx: Ctx, name: str, default: str = "") -> str:
        v = ctx.form.get(name) if ctx.form is not None else ctx.request.query_params.get(name)
        return v.strip() if isinstance(v, str) else default

    def need(ctx: Ctx, *roles: str) -> ScopedRegistry:
        s = ctx.need_user()
        if s.user.role not in roles:
            raise HTTPError(403, "your role does not allow this page")
        return s

    # -- login ----------------------------------------------------------------------------------------

    def login_get(ctx: Ctx) -> Response:
        if ctx.user is not None:
            return redirect("/patients")
        if ctx.session is None or ctx.session.user_name is not None:
            token, ctx.session = auth.create_session(reg)
            ctx.new_cookie = token
        resp = render(ctx, "login.html", next=_safe_next(field(ctx, "next")), error=None)
        return resp

    def login_post(ctx: Ctx) -> Response:
        name, password, code = field(ctx, "username"), (ctx.form.get("password") if ctx.form else "") or "", \
            field(ctx, "code")
        user = auth.authenticate(reg, name, str(password), code or None)
        if user is None:
            return render(ctx, "login.html", code=401, next=_safe_next(field(ctx, "next")),
                          error="Login failed: the user name, password or code is not right, or the account is "
                                "locked for a while after repeated failures.")
        token, ctx.session = auth.rotate_session(reg, ctx.session, user.name)
        ctx.new_cookie = token
        auth.purge_sessions(reg)  # expired sessions (pre-login ones included) do not pile up
        return redirect(_safe_next(field(ctx, "next")) or "/patients")

    def logout(ctx: Ctx) -> Response:
        if ctx.session is not None:
            auth.end_session(reg, ctx.session)
        ctx.new_cookie = ""
        return redirect("/login")

    def account(ctx: Ctx) -> Response:
        s = ctx.need_user()
        message = error = None
        secret = None
        if ctx.request.method == "POST":
            action = field(ctx, "action")
            try:
                if action == "password":
                    new = str(ctx.form.get("new_password") or "") if ctx.form else ""
                    if new != str(ctx.form.get("new_password2") or "" if ctx.form else ""):
                        raise auth.AuthError("the two new passwords differ")
                    auth.change_password(reg, s.user.name, str(ctx.form.get("current_password") or ""), new)
                    token, ctx.session = auth.create_session(reg, s.user.name)
                    ctx.new_cookie = token
                    message = "Password changed; your other sessions have ended."
                elif action == "totp-start":
                    secret = auth.new_totp_secret()
                elif action == "totp-confirm":
                    secret = field(ctx, "secret")
                    auth.enable_totp(reg, s.user.name, secret, field(ctx, "code"))
                    secret = None
                    message = "Two-factor login is on: a code is asked at every login."
                elif action == "totp-off":
                    auth.disable_totp(reg, s.user.name)
                    message = "Two-factor login is off."
            except auth.AuthError as exc:
                error = str(exc)
        return render(ctx, "account.html", message=message, error=error, secret=secret,
                      uri=auth.totp_uri(s.user.name, secret) if secret else None,
                      totp=auth.totp_enabled(reg, s.user.name))

    # -- patients -------------------------------------------------------------------------------------

    def patients(ctx: Ctx) -> Response:
        s = ctx.need_user()
        rows = s.patient_centres()
        open_q: dict[str, int] = {}
        for q in rq.list_queries(s, status="open"):
            open_q[q.patient_id] = open_q.get(q.patient_id, 0) + 1
        return render(ctx, "patients.html", rows=rows, open_q=open_q)

    def _values(ctx: Ctx, form_name: str, prefix: str = "") -> dict[str, str]:
        f = d.form(form_name)
        return {c: field(ctx, prefix + c) for c in f.columns}

    def centres_for(s: ScopedRegistry) -> list[tuple[str, str]]:
        all_centres = reg.centres()
        if s.user.reads_all:
            return all_centres
        return [(c, n) for c, n in all_centres if c == s.user.centre]

    def new_patient(ctx: Ctx) -> Response:
        s = ctx.need_user()
        if not s.user.can_write:
            raise HTTPError(403, "a monitor does not enter data")
        new_forms = wf.new_patient_forms(d)
        values = {f: {} for f in new_forms}
        errors: dict[str, Any] = {}
        other: list[Any] = []
        if ctx.request.method == "POST":
            values = {f: _values(ctx, f, f + ".") for f in new_forms}
            pid = values[d.patient_form.name].get(d.patient_id, "")
            if not pid:
                errors = {f"{d.patient_form.name}.{d.patient_id}": ["a patient identifier is required"]}
            else:
                out = wf.create_patient(s, pid, values)
                if out.ok:
                    return redirect(f"/patients/{quote(pid, safe='')}?saved=1")
                errors = {k: [f.message for f in v] for k, v in out.field_errors.items()}
                other = out.other
        specs = {f: wf.field_specs(d.form(f)) for f in new_forms}
        return render(ctx, "new_patient.html", code=422 if errors or other else 200, specs=specs, values=values,
                      errors=errors, other=other, forms=[d.form(f) for f in new_forms],
                      centres=centres_for(s))

    def patient(ctx: Ctx) -> Response:
        s = ctx.need_user()
        pid = ctx.request.path_params["pid"]
        _, result, records = cache.records(s, pid)
        findings = [f for f in result.findings if f.severity in ("error", "warning")]
        qs = rq.list_queries(s, patient_id=pid)
        return render(ctx, "patient.html", pid=pid, records=records, findings=findings, queries=qs,
                      saved=field(ctx, "saved"), specs={f.name: wf.field_specs(f) for f in d.forms},
                      one_row={f.name: tuple(f.key) == ("patient_id",) for f in d.forms},
                      now=dt.datetime.now(dt.UTC))

    def posted_version(ctx: Ctx) -> int | None:
        v = field(ctx, "version")
        return int(v) if v.isdigit() else None

    def _original_key(ctx: Ctx, form_name: str, pid: str) -> dict[str, str] | None:
        f = d.form(form_name)
        if field(ctx, "new") == "1":
            return None
        key = {k: field(ctx, "key." + k) for k in f.key}
        key["patient_id"] = pid
        return key

    def record(ctx: Ctx) -> Response:
        s = ctx.need_user()
        pid = ctx.request.path_params["pid"]
        form_name = ctx.request.path_params["form"]
        try:
            f = d.form(form_name)
        except KeyError:
            raise HTTPError(404, f"no form {form_name}") from None
        version, _, records = cache.records(s, pid)  # PatientNotFound for another centre's patient
        orig = _original_key(ctx, form_name, pid)
        errors: dict[str, list[str]] = {}
        other: list[Any] = []
        if orig is None:
            values = {c: "" for c in f.columns}
            values["patient_id"] = pid
        else:
            match = [r for r in records[form_name] if wf.key_of(f, r) == orig]
            if not match:
                raise HTTPError(404, f"{form_name}: no such record of patient {pid}")
            values = dict(match[0])
        if ctx.request.method == "POST":
            if not s.user.can_write:
                raise HTTPError(403, "a monitor does not change data (nothing was saved)")
            if field(ctx, "action") == "delete":
                if orig is None:
                    raise HTTPError(400, "nothing to delete")
                if form_name == "patients":
                    s.delete_patient(pid)
                    return redirect("/patients?deleted=" + quote(pid, safe=""))
                out = wf.delete_record(s, pid, form_name, orig, cache, version=posted_version(ctx))
            else:
                posted = _values(ctx, form_name)
                posted["patient_id"] = pid
                if orig is not None:  # the key of a saved record is not changed here
                    posted.update({k: orig[k] for k in f.key})
                values = posted
                out = wf.save_record(s, pid, form_name, orig, posted, cache, version=posted_version(ctx))
            if out.ok:
                return redirect(f"/patients/{quote(pid, safe='')}?saved=1#{form_name}")
            errors = {k: [x.message for x in v] for k, v in out.field_errors.items()}
            other = out.other
        return render(ctx, "record.html", code=422 if errors or other else 200, pid=pid, form=f,
                      version=field(ctx, "version") or str(version),
                      specs=wf.field_specs(f), values=values, orig=orig, errors=errors, other=other,
                      centres=centres_for(s) if form_name == "patients" else None, can_write=s.user.can_write,
                      one_row=tuple(f.key) == ("patient_id",))

    def audit_page(ctx: Ctx) -> Response:
        s = ctx.need_user()
        pid = ctx.request.path_params["pid"]
        try:
            s.patient_version(pid)
        except PatientNotFound:
            if not s.history(pid):  # a deleted patient's trail stays readable; an unknown id is not found
                raise
        entries = s.history(pid)
        msgs = rq.query_messages_for_patient(s, pid)
        by_audit = {m.audit_id: q.id for q, m in msgs if m.audit_id is not None}
        return render(ctx, "audit.html", pid=pid, entries=entries, by_audit=by_audit, msgs=msgs)

    # -- queries --------------------------------------------------------------------------------------

    def queries_list(ctx: Ctx) -> Response:
        s = ctx.need_user()
        status = field(ctx, "status") or None
        if status not in (None, *rq.QUERY_STATUSES):
            status = None
        centre = field(ctx, "centre") or None
        qs = rq.list_queries(s, status=status, centre=centre)
        return render(ctx, "queries.html", queries=qs, status=status, centre=centre,
                      centres=centres_for(s) if s.user.reads_all else [], now=dt.datetime.now(dt.UTC))

    def query_open(ctx: Ctx) -> Response:
        s = need(ctx, "monitor", "coordinator")
        pid = ctx.request.path_params["pid"]
        form_name = field(ctx, "form")
        try:
            f = d.form(form_name)
        except KeyError:
            raise HTTPError(400, f"no form {form_name}") from None
        key = {k: field(ctx, "key." + k) for k in f.key}
        key["patient_id"] = pid
        try:
            q = rq.open_query(s, pid, form_name, key, field(ctx, "field"), field(ctx, "comment"))
        except PatientNotFound:
            raise
        except (LookupError, ValueError) as exc:
            raise HTTPError(400, str(exc)) from None
        return redirect(f"/queries/{q.id}")

    def query_page(ctx: Ctx) -> Response:
        s = ctx.need_user()
        try:
            qid = int(ctx.request.path_params["qid"])
        except ValueError:
            raise HTTPError(404, "no such query") from None
        error = None
        if ctx.request.method == "POST":
            action = field(ctx, "action")
            try:
                if action == "answer":
                    rq.answer_query(s, qid, field(ctx, "comment"), field(ctx, "new_value") or None)
                elif action == "close":
                    rq.close_query(s, qid, field(ctx, "comment"))
                elif action == "reopen":
                    rq.reopen_query(s, qid, field(ctx, "comment"))
                else:
                    raise HTTPError(400, "unknown action")
                return redirect(f"/queries/{qid}")
            except ImportRejected as exc:
                error = "; ".join(f.message for f in exc.findings if f.severity == "error")
            except ValueError as exc:
                error = str(exc)
        q = rq.get_query(s, qid)
        current = None
        try:
            recs = wf.patient_records(s, q.patient_id, cache)[q.form]
            f = d.form(q.form)
            for r in recs:
                if ", ".join(f"{k}={r[k]}" for k in f.key) == q.record_key:
                    current = r.get(q.field)
        except PatientNotFound:
            current = None
        return render(ctx, "query.html", code=422 if error else 200, q=q, error=error, current=current,
                      now=dt.datetime.now(dt.UTC))

    # -- upload / download ----------------------------------------------------------------------------

    def upload(ctx: Ctx) -> Response:
        s = ctx.need_user()
        if not s.user.can_write:
            raise HTTPError(403, "a monitor does not import data")
        result = findings = None
        error = None
        fmt = field(ctx, "format") or "auto"
        if ctx.request.method == "POST":
            up = ctx.form.get("file") if ctx.form else None
            if not isinstance(up, UploadFile) or not up.filename:
                error = "choose a file"
            else:
                tmp = Path(tempfile.mkdtemp(prefix="upload-", dir=work))
                try:
                    path = _store_upload(up, tmp)
                    extra: dict[str, Any] = {}
                    for name in ("redcap_dictionary", "mapping"):
                        other = ctx.form.get(name) if ctx.form else None
                        if isinstance(other, UploadFile) and other.filename:
                            extra[name] = _store_upload(other, tmp / name)
                    centre = field(ctx, "centre") or None
                    result = s.import_path(path, fmt=fmt, centre=centre, **extra)
                except ImportRejected as exc:
                    findings = exc.findings
                    error = f"rejected: {sum(f.severity == 'error' for f in exc.findings)} error(s); nothing was " \
                            "written to the registry"
                except _UploadError as exc:
                    error = str(exc)
                except Exception as exc:  # noqa: BLE001 - an unreadable file: one message, nothing written
                    from blincompass.io.raw import InputReadError

                    if isinstance(exc, InputReadError | zipfile.BadZipFile | UnicodeDecodeError):
                        error = f"cannot read the file: {exc}"
                    elif isinstance(exc, AccessDenied):
                        raise
                    else:
                        raise
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
        return render(ctx, "upload.html", code=422 if findings or error else 200, result=result,
                      findings=findings, error=error, centres=centres_for(s), fmt=fmt)

    def download(ctx: Ctx) -> Response:
        s = ctx.need_user()
        from blincompass.exports import export

        tmp = Path(tempfile.mkdtemp(prefix="download-", dir=work))
        try:
            written = export(s, "template", tmp, config.protocol)
            data = Path(written[0]).read_bytes()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        name = f"registry-{s.user.centre or 'all'}.xlsx"
        return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    # -- dashboard, report, users ---------------------------------------------------------------------

    def dashboard(ctx: Ctx) -> Response:
        s = need(ctx, "monitor", "coordinator")
        from blincompass.web.dashboard import dashboard_numbers

        return render(ctx, "dashboard.html", dash=dashboard_numbers(s, config.protocol))

    def report_files(run_id: str) -> list[Path] | None:
        """The files of a report run (listed beside its folder in the work folder, which every server
        process shares); ``None`` for an unknown run."""
        if not _RUN_ID.fullmatch(run_id):
            return None
        manifest = work / f"{run_id}.json"
        if not manifest.is_file():
            return None
        return [Path(p) for p in json.loads(manifest.read_text(encoding="utf-8"))]

    def report(ctx: Ctx) -> Response:
        s = need(ctx, "coordinator")
        error = None
        files: list[str] = []
        run_id = field(ctx, "run")
        if ctx.request.method == "POST":
            from blincompass.report import render_report

            proto = config.protocol
            validation = s.read_result(data_cutoff=proto.study.data_cutoff if proto is not None else None)
            out = Path(tempfile.mkdtemp(prefix="report-", dir=work))
            with report_lock:
                outcome = render_report(Path("registry"), out, protocol=proto, validation=validation,
                                        show_progress=False)
            if not outcome.ok:
                error = f"{sum(f.severity == 'error' for f in outcome.findings)} validation error(s); no report"
                shutil.rmtree(out, ignore_errors=True)
            else:
                run_id = out.name
                listed = work / f"{run_id}.json.tmp"
                listed.write_text(json.dumps(sorted(str(p) for p in outcome.written)), encoding="utf-8")
                listed.replace(work / f"{run_id}.json")
                return redirect(f"/report?run={quote(run_id)}")
        written = report_files(run_id)
        if written:
            base = work / run_id
            files = [str(p.relative_to(base)) for p in written]
        return render(ctx, "report.html", code=422 if error else 200, error=error, files=files, run=run_id)

    def report_file(ctx: Ctx) -> Response:
        need(ctx, "coordinator")
        run_id = ctx.request.path_params["run"]
        rel = ctx.request.path_params["path"]
        paths = report_files(run_id)
        if not paths:
            raise HTTPError(404, "no such report")
        base = work / run_id
        wanted = {str(p.relative_to(base)): p for p in paths}
        if rel not in wanted:
            raise HTTPError(404, "no such file")
        p = wanted[rel]
        media = {".html": "text/html", ".json": "application/json", ".png": "image/png", ".svg": "image/svg+xml",
                 ".csv": "text/csv"}.get(p.suffix, "application/octet-stream")
        headers = {"Content-Disposition": f'attachment; filename="{p.name}"'}
        return Response(p.read_bytes(), media_type=media, headers=headers)

    def users_page(ctx: Ctx) -> Response:
        s = need(ctx, "coordinator")
        message = error = None
        if ctx.request.method == "POST":
            action = field(ctx, "action")
            try:
                if action == "add-centre":
                    reg.add_centre(field(ctx, "code"), field(ctx, "name") or None, by=s.user.name)
                    message = "centre added"
                elif action == "add-user":
                    role = field(ctx, "role")
                    name = field(ctx, "name")
                    password = str(ctx.form.get("password") or "") if ctx.form else ""
                    problem = auth.password_problem(password, name)
                    if problem:
                        raise ValueError(problem)
                    reg.add_user(name, role, field(ctx, "centre") or None if role == "centre" else None,
                                 by=s.user.name)
                    auth.set_password(reg, name, password)
                    message = f"user {name} added"
                elif action == "set-password":
                    name = field(ctx, "name")
                    if name not in {u.name for u in s.users()}:
                        raise ValueError("no such user")
                    auth.set_password(reg, name, str(ctx.form.get("password") or "") if ctx.form else "")
                    message = f"password of {name} set; the account is unlocked and its sessions ended"
                else:
                    raise ValueError("unknown action")
            except (ValueError, auth.AuthError) as exc:
                error = str(exc)
        users = [(u, auth.has_password(reg, u.name)) for u in s.users()]
        return render(ctx, "users.html", code=422 if error else 200, users=users, centres=reg.centres(),
                      message=message, error=error)

    def home(ctx: Ctx) -> Response:
        return redirect("/patients")

    async def css(request: Request) -> Response:
        return Response(static_css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    routes = [
        Route("/", page(home)),
        Route("/login", page(login_get, login=False), methods=["GET"]),
        Route("/login", page(login_post, login=False), methods=["POST"]),
        Route("/logout", page(logout), methods=["POST"]),
        Route("/account", page(account), methods=["GET", "POST"]),
        Route("/patients", page(patients)),
        Route("/patients/new", page(new_patient), methods=["GET", "POST"]),
        Route("/patients/{pid}", page(patient)),
        Route("/patients/{pid}/audit", page(audit_page)),
        Route("/patients/{pid}/queries", page(query_open), methods=["POST"]),
        Route("/patients/{pid}/{form}", page(record), methods=["GET", "POST"]),
        Route("/queries", page(queries_list)),
        Route("/queries/{qid}", page(query_page), methods=["GET", "POST"]),
        Route("/upload", page(upload), methods=["GET", "POST"]),
        Route("/download", page(download)),
        Route("/dashboard", page(dashboard)),
        Route("/report", page(report), methods=["GET", "POST"]),
        Route("/report/{run}/{path:path}", page(report_file)),
        Route("/users", page(users_page), methods=["GET", "POST"]),
        Route("/static/style.css", css),
    ]
    app = Starlette(routes=routes)
    app.state.config = config
    return _SecurityHeaders(app, lambda scheme: config.secure_cookies if config.secure_cookies is not None
                            else scheme == "https")


class _SecurityHeaders:
    """ASGI middleware adding the security headers to every response."""

    def __init__(self, app: Starlette, tls: Callable[[str], bool]) -> None:
        self.app = app
        self.tls = tls
        self.state = app.state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        secure = self.tls(scope.get("scheme", "http"))

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])]
                names = {k.lower() for k, _ in headers}
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                if secure:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = dict(message, headers=headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)


#: A report run's folder name (``tempfile.mkdtemp(prefix="report-")``).
_RUN_ID = re.compile(r"report-[A-Za-z0-9_]+")


def _safe_next(target: str) -> str:
    """A local path to go to after login (never another site)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return ""


class _UploadError(ValueError):
    pass


_ALLOWED = (".xlsx", ".csv", ".zip", ".sav", ".toml")


def _store_upload(up: UploadFile, folder: Path) -> Path:
    """Write an uploaded file into ``folder`` under a safe name; a zip of CSV files is unpacked into a
    folder of CSVs (names without folders; size and count limits)."""
    folder.mkdir(parents=True, exist_ok=True)
    name = os.path.basename((up.filename or "upload").replace("\\", "/")) or "upload"
    suffix = Path(name).suffix.casefold()
    if suffix not in _ALLOWED:
        raise _UploadError(f"{name}: give a workbook (.xlsx), a zip of CSV files, a REDCap export (.csv) or "
                           "SPSS files (.sav)")
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    up.file.seek(0)
    data = up.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise _UploadError(f"{name}: larger than {MAX_UPLOAD // (1024 * 1024)} MB")
    if suffix != ".zip":
        path = folder / safe
        path.write_bytes(data)
        return path
    out = folder / safe  # a folder named as the zip file, so that the import log names the upload
    out.mkdir()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = [i for i in z.infolist() if not i.is_dir()]
        if len(infos) > 50 or sum(i.file_size for i in infos) > MAX_UPLOAD * 4:
            raise _UploadError(f"{name}: too many or too large files inside")
        for info in infos:
            base = os.path.basename(info.filename.replace("\\", "/"))
            if base.startswith(".") or Path(base).suffix.casefold() not in (".csv", ".sav"):
                continue
            (out / base).write_bytes(z.read(info))
    if not any(out.iterdir()):
        raise _UploadError(f"{name}: no CSV files inside")
    return out
