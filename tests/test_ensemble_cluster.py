"""Ensembles on a cluster (issue 17): chunks vouched for by the manifest,
giving up when every worker is gone, Ctrl-C, TLS schedulers.

The runs that can hang or must be interrupted run ``mineq`` in a
subprocess with a time limit; schedulers and workers listen on 127.0.0.1
only and are stopped by the test that started them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from click.testing import CliRunner

from mineq.solver.cli import main
from mineq.solver.ensemble import JOURNAL, checked_chunks, combine, file_sha256, manifest, plan_chunks, read_uncertainty, recorded_chunks
from mineq.solver.case import load_case
from mineq.solver.errors import MineqError

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "cases" / "three-region-demo"
TABLE = "mineral,parameter,central,low,high\n*,demand_elasticity,1,0.5,2\n*,trade_cost_half_gap,0.04,0.02,0.08\n"
#: what a subprocess needs to import this source tree (workers too)
ENV = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def mineq(*args, timeout=120, env=None):
    """``mineq ARGS`` in a fresh process, killed after ``timeout`` seconds."""
    return subprocess.run([sys.executable, "-m", "mineq.solver.cli", *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env or ENV)


def table(tmp_path) -> Path:
    p = tmp_path / "u.csv"
    p.write_text(TABLE)
    return p


def ensemble_args(tmp_path, out, n=6, chunk=2):
    return ["ensemble", str(DEMO), "-n", str(n), "--seed", "3", "--chunk", str(chunk), "--uncertainty", str(table(tmp_path)), "-o", str(out), "-q"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, seconds: float, what: str):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"waited {seconds} s for {what}")


def test_chunks_are_vouched_for_by_the_manifest(tmp_path):
    """A chunk file copied into the wrong place duplicated draws without
    complaint; now the manifest records each chunk's draws and sha256 and
    --resume and the combine step refuse what does not match."""
    out = tmp_path / "run"
    cli = CliRunner()
    r = cli.invoke(main, [*ensemble_args(tmp_path, out), "-w", "1"])
    assert r.exit_code == 0, r.output
    rec = json.loads((out / "manifest.json").read_text())["chunks"]
    assert rec == {f"chunk-{k:05d}.nc": {"draws": d, "sha256": file_sha256(out / f"chunk-{k:05d}.nc")} for k, d in enumerate([[0, 1], [2, 3], [4, 5]])}
    good = xr.load_dataset(out / "ensemble.nc")
    saved = {p.name: p.read_bytes() for p in out.glob("chunk-*.nc")}

    def restore():
        for p in out.glob("chunk-*.nc"):
            p.unlink()
        for name, data in saved.items():
            (out / name).write_bytes(data)
        (out / "ensemble.nc").unlink(missing_ok=True)

    resume = [*ensemble_args(tmp_path, out), "-w", "1", "--resume"]
    # copied over another chunk: draws 0-1 would appear twice
    restore()
    shutil.copy(out / "chunk-00000.nc", out / "chunk-00001.nc")
    r = cli.invoke(main, resume)
    assert r.exit_code == 1, r.output
    assert "chunk-00001.nc has sha256" in r.output and "draws 2-3" in r.output and "Remove chunk-00001.nc" in r.output and "Traceback" not in r.output
    assert not (out / "ensemble.nc").exists()
    # copied into the place of a missing chunk
    restore()
    (out / "chunk-00002.nc").unlink()
    shutil.copy(out / "chunk-00000.nc", out / "chunk-00002.nc")
    r = cli.invoke(main, resume)
    assert r.exit_code == 1 and "chunk-00002.nc has sha256" in r.output, r.output
    # a chunk from a run of more draws, beyond this run's plan
    restore()
    shutil.copy(out / "chunk-00000.nc", out / "chunk-00007.nc")
    r = cli.invoke(main, resume)
    assert r.exit_code == 1 and "chunk-00007.nc is not a chunk of this run" in r.output, r.output
    (out / "chunk-00007.nc").unlink()
    # the manifest edited to vouch for the copy: the draws inside still disagree
    restore()
    shutil.copy(out / "chunk-00000.nc", out / "chunk-00001.nc")
    m = json.loads((out / "manifest.json").read_text())
    m["chunks"]["chunk-00001.nc"]["sha256"] = file_sha256(out / "chunk-00001.nc")
    (out / "manifest.json").write_text(json.dumps(m))
    c = load_case(DEMO)
    meta = manifest(c, read_uncertainty(table(tmp_path), c), 3, 6, 2, None)
    with pytest.raises(MineqError, match=r"chunk-00001.nc holds draws \[0, 1\], but chunk 1 of this run is draws 2-3"):
        combine(out, plan_chunks(6, 2), c, meta)
    m["chunks"]["chunk-00001.nc"]["sha256"] = rec["chunk-00001.nc"]["sha256"]
    # a chunk this run wrote but never recorded (its worker died before
    # reporting it) carries the run's stamp and its draws: it is kept
    restore()
    m["chunks"].pop("chunk-00002.nc")
    (out / "manifest.json").write_text(json.dumps(m))
    assert checked_chunks(out, plan_chunks(6, 2)) == [0, 1, 2]
    assert recorded_chunks(out)[1] == rec
    # an unrecorded chunk of another run (another stamp) is not
    (out / JOURNAL).unlink()
    other = xr.load_dataset(out / "chunk-00002.nc")
    other.attrs["run"] = "0" * 64
    (out / "chunk-00002.nc").unlink()
    other.to_netcdf(out / "chunk-00002.nc")
    with pytest.raises(MineqError, match=r"chunk-00002.nc is not recorded in .* and is not stamped as this run's chunk 2 \(draws 4-5\)"):
        checked_chunks(out, plan_chunks(6, 2))
    # a missing chunk is solved again, and the result is the first one
    (out / "chunk-00002.nc").unlink()
    r = cli.invoke(main, resume)
    assert r.exit_code == 0 and "2 of 3 chunks already written" in r.output, r.output
    again = xr.load_dataset(out / "ensemble.nc")
    assert list(again.draw.values) == [0, 1, 2, 3, 4, 5]
    for v in good.data_vars:
        assert again[v].equals(good[v]), v
    # a run started by a mineq that recorded and stamped nothing: its
    # chunks are taken where their seed and draws fit, and only there
    m = json.loads((out / "manifest.json").read_text())
    del m["chunks"]
    (out / "manifest.json").write_text(json.dumps(m))
    (out / "ensemble.nc").unlink()
    for p in out.glob("chunk-*.nc"):
        old = xr.load_dataset(p)
        del old.attrs["run"]
        p.unlink()
        old.to_netcdf(p)
    legacy = {p.name: p.read_bytes() for p in out.glob("chunk-*.nc")}
    (out / "chunk-00001.nc").write_bytes(legacy["chunk-00000.nc"])
    r = cli.invoke(main, resume)
    assert r.exit_code == 1 and "chunk-00001.nc is not recorded" in r.output, r.output
    (out / "chunk-00001.nc").write_bytes(legacy["chunk-00001.nc"])
    r = cli.invoke(main, resume)
    assert r.exit_code == 0 and "3 of 3 chunks already written" in r.output, r.output
    assert sorted(json.loads((out / "manifest.json").read_text())["chunks"]) == ["chunk-00000.nc", "chunk-00001.nc", "chunk-00002.nc"]


def _cluster(port: int, workers: int, tmp_path):
    """A ``dask scheduler`` and ``workers`` single-process ``dask worker``s
    on 127.0.0.1:port, as a multi-machine cluster is started (README)."""
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    logs = open(tmp_path / "cluster.log", "w")
    sched = subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], env=ENV, stdout=logs, stderr=logs, cwd=ROOT)
    procs = [sched]
    for _ in range(workers):
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", f"tcp://127.0.0.1:{port}", "--no-nanny", "--nthreads", "1", "--no-dashboard", "--host", "127.0.0.1"], env=ENV, stdout=logs, stderr=logs, cwd=ROOT))
    return procs


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=30)


def _n_workers(address: str) -> int:
    from distributed import Client

    with Client(address, timeout="10s") as c:
        return len(c.nthreads())


def test_gives_up_when_every_worker_is_gone(tmp_path):
    """The client waited forever once the last worker died; now it gives
    up after --worker-timeout and says what was kept and how to resume.
    Enough draws that the run is still going when the worker dies (one-draw
    chunks of the demo case take about 0.07 s each)."""
    port = free_port()
    procs = _cluster(port, 1, tmp_path)
    out, n = tmp_path / "run", 400
    try:
        wait_for(lambda: _n_workers(f"tcp://127.0.0.1:{port}") == 1, 60, "the worker to join")
        run = subprocess.Popen([sys.executable, "-m", "mineq.solver.cli", *ensemble_args(tmp_path, out, n=n, chunk=1), "--scheduler", f"tcp://127.0.0.1:{port}", "--worker-timeout", "3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV)
        try:
            wait_for(lambda: (out / "chunk-00000.nc").exists() or run.poll() is not None, 90, "the first chunk")
            procs[1].kill()  # the only worker dies
            t0 = time.monotonic()
            stdout, stderr = run.communicate(timeout=90)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
        waited = time.monotonic() - t0
    finally:
        _stop(procs)
    text = stdout + stderr
    assert run.returncode == 1, text
    assert "has had no worker for 3 s (--worker-timeout)" in text and "Traceback" not in text, text
    assert waited < 60
    kept = sorted(p.name for p in out.glob("chunk-*.nc"))
    assert kept and f"; gave up. {len(kept)} of {n} chunks ({len(kept)} of {n} draws) are kept in {out} and recorded in its manifest.json" in text, text
    assert "--resume" in text and "no ensemble.nc was written" in text
    # every kept chunk is vouched for: a resume takes them
    assert len(checked_chunks(out, plan_chunks(n, 1))) == len(kept)


def test_a_local_cluster_leaves_port_8787_alone():
    """With another cluster on 8787 (Dask's dashboard port), the local
    cluster's scheduler warned 'Port 8787 is already in use' over what
    mineq printed, although it shows no dashboard: it now takes a free
    port for its HTTP server."""
    import warnings

    from distributed import LocalCluster

    from mineq.solver.cli import _local_cluster

    held = socket.socket()
    try:
        held.bind(("", 8787))
        held.listen()
    except OSError:
        pass  # someone else holds it: the same test
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cluster = _local_cluster(LocalCluster, 1)
            cluster.close()
    finally:
        held.close()
    assert not [w for w in caught if "already in use" in str(w.message)], [str(w.message) for w in caught]


def test_ctrl_c_says_what_was_kept(tmp_path):
    """Ctrl-C printed Dask tracebacks and 'nothing was written' although
    chunks existed.  The run starts with SIGINT's default action, as a
    command in a terminal does: a test run started in the background of
    a non-interactive shell inherits SIGINT ignored, and Python then
    installs no KeyboardInterrupt handler (the run went on to its end).
    Enough draws that it is still going when the signal comes."""
    out, n = tmp_path / "run", 600
    # a session of its own: the test sends Ctrl-C's SIGINT to the whole
    # process group, as a terminal does, workers included
    run = subprocess.Popen([sys.executable, "-m", "mineq.solver.cli", *ensemble_args(tmp_path, out, n=n, chunk=1), "-w", "1"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=ENV, start_new_session=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        wait_for(lambda: (out / "chunk-00001.nc").exists() or run.poll() is not None, 120, "two chunks")
        os.killpg(run.pid, signal.SIGINT)
        stdout, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    text = stdout + stderr
    assert run.returncode == 1, text
    assert "Traceback" not in text and "nothing was written" not in text, text
    kept = sorted(p.name for p in out.glob("chunk-*.nc"))
    assert len(kept) >= 2
    assert text.startswith("Error: Interrupted.") and f"of {n} chunks ({len(kept)} of {n} draws) are kept in {out}" in text, text
    assert "Continue with: mineq ensemble" in text and "--resume" in text
    assert len(checked_chunks(out, plan_chunks(n, 1))) == len(kept)


def _certificates(folder: Path, name: str) -> tuple[Path, Path, Path]:
    """A certificate authority and one certificate it signed (for the
    scheduler, workers and client alike), made with the openssl command."""
    folder.mkdir()
    ca_key, ca, key, csr, cert = (folder / f for f in ("ca.key", "ca.pem", "node.key", "node.csr", "node.pem"))
    run = lambda *a: subprocess.run(["openssl", *a], check=True, capture_output=True, timeout=60)  # noqa: E731
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", f"/CN={name} test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName = IP:127.0.0.1\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command, which makes the test's certificates, is not installed")
def test_tls_scheduler(tmp_path):
    """A tls:// scheduler: mineq connects with the certificates from its
    options or from Dask's configuration, and the scheduler refuses a
    client whose certificate another authority signed."""
    from distributed import LocalCluster
    from distributed.security import Security

    ca, cert, key = _certificates(tmp_path / "certs", "mineq")
    sec = Security(tls_ca_file=str(ca), tls_scheduler_cert=str(cert), tls_scheduler_key=str(key), tls_worker_cert=str(cert), tls_worker_key=str(key),
                   tls_client_cert=str(cert), tls_client_key=str(key), require_encryption=True)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls://", host="127.0.0.1", security=sec, dashboard_address=None) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        # no certificate: refused before connecting, saying where they go
        r = mineq(*ensemble_args(tmp_path, tmp_path / "none", n=2), "--scheduler", address)
        assert r.returncode == 1 and "speaks TLS, but no client certificate is set" in r.stderr and "distributed.comm.tls.ca-file" in r.stderr, r.stderr
        # a stranger's certificate: the scheduler refuses the connection
        sca, scert, skey = _certificates(tmp_path / "stranger", "stranger")
        r = mineq(*ensemble_args(tmp_path, tmp_path / "stranger-run", n=2), "--scheduler", address, "--tls-ca-file", sca, "--tls-cert", scert, "--tls-key", skey, timeout=90)
        assert r.returncode == 1 and f"Cannot connect to the Dask scheduler at {address}" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert not list((tmp_path / "stranger-run").glob("chunk-*.nc"))
        # certificates from the options
        r = mineq(*ensemble_args(tmp_path, tmp_path / "opts", n=4), "--scheduler", address, "--tls-ca-file", ca, "--tls-cert", cert, "--tls-key", key)
        assert r.returncode == 0, r.stderr
        # certificates from Dask's configuration (here its environment form)
        conf = {"DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(ca), "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(cert), "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(key)}
        r = mineq(*ensemble_args(tmp_path, tmp_path / "conf", n=4), "--scheduler", address, env={**ENV, **conf})
        assert r.returncode == 0, r.stderr
    a, b = (xr.load_dataset(tmp_path / d / "ensemble.nc") for d in ("opts", "conf"))
    assert list(a.draw.values) == [0, 1, 2, 3] and (a.status == "equilibrium").all()
    for v in a.data_vars:
        assert a[v].equals(b[v]), v
    # TLS options without a tls:// scheduler are a mistake, said so
    r = CliRunner().invoke(main, [*ensemble_args(tmp_path, tmp_path / "tcp", n=2), "--scheduler", "tcp://127.0.0.1:1", "--tls-ca-file", str(ca), "--tls-cert", str(cert)])
    assert r.exit_code == 1 and "is not tls://" in r.output, r.output


def test_absurd_draw_counts_are_refused_up_front(tmp_path):
    """-n 1000000000 spent minutes listing chunks (and would have needed
    terabytes to combine); now it is refused at once, with the figures."""
    out = tmp_path / "huge"
    t0 = time.monotonic()
    r = mineq(*ensemble_args(tmp_path, out, n=1_000_000_000), timeout=60)
    assert r.returncode == 1, r.stderr
    assert time.monotonic() - t0 < 30
    assert "--draws 1,000,000,000 is too large for case 'three-region-demo'" in r.stderr and "TiB in all" in r.stderr and "nothing was started" in r.stderr, r.stderr
    assert not out.exists()


def test_the_journal_survives_a_torn_last_line(tmp_path):
    """Records are appended to the manifest's journal (rewriting the
    manifest after each chunk costs O(chunks²)); a crash mid-append
    leaves a torn last line, which only unrecords that chunk."""
    (tmp_path / "manifest.json").write_text(json.dumps({"seed": 1, "chunks": {"chunk-00000.nc": {"draws": [0], "sha256": "a"}}}))
    (tmp_path / JOURNAL).write_text(json.dumps({"file": "chunk-00001.nc", "draws": [1], "sha256": "b"}) + "\n" + '{"file": "chunk-00002.nc", "dra')
    meta, rec = recorded_chunks(tmp_path)
    assert meta["seed"] == 1 and rec == {"chunk-00000.nc": {"draws": [0], "sha256": "a"}, "chunk-00001.nc": {"draws": [1], "sha256": "b"}}
    from mineq.solver.ensemble import fold_journal

    fold_journal(tmp_path)
    assert not (tmp_path / JOURNAL).exists()
    assert json.loads((tmp_path / "manifest.json").read_text()) == {"seed": 1, "chunks": rec}


def test_the_default_chunk_follows_the_draws_alone(tmp_path):
    """Without --chunk a run plans 2 draws a chunk, and 16 from 256 draws on
    (each task carries the case's text to its worker); the manifest says
    which, and so does the command that resumes the run, whatever the
    workers.  Against a scheduler that is not there: the run stops before
    any draw, with the plan written."""
    port = free_port()
    for n, size in ((255, 2), (256, 16)):
        out = tmp_path / f"run{n}"
        args = ["ensemble", str(DEMO), "-n", str(n), "--seed", "3", "--uncertainty", str(table(tmp_path)), "-o", str(out), "-q", "--scheduler", f"tcp://127.0.0.1:{port}"]
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 1 and "Cannot connect to the Dask scheduler" in r.output, r.output
        assert json.loads((out / "manifest.json").read_text())["chunk"] == size


def _planned_with_8_a_chunk(tmp_path):
    """(run folder, its command's arguments) of a 256-draw run planned with
    8 draws a chunk against a scheduler that is not there: its manifest
    written, nothing solved."""
    out = tmp_path / "run"
    args = ["ensemble", str(DEMO), "-n", "256", "--seed", "3", "--uncertainty", str(table(tmp_path)), "-o", str(out), "-q", "--scheduler", f"tcp://127.0.0.1:{free_port()}"]
    r = CliRunner().invoke(main, [*args, "--chunk", "8"])
    assert r.exit_code == 1 and "Cannot connect to the Dask scheduler" in r.output, r.output
    return out, args


def test_a_resume_without_chunk_takes_the_runs_own(tmp_path):
    """``--resume`` without ``--chunk`` continues with the chunk size the
    run's manifest records (a run planned with 8 a chunk, as the default
    was for 256 draws before session 21, is not refused for the new
    default); a resume that names another ``--chunk`` is still refused.
    Against a scheduler that is not there: nothing is solved."""
    out, args = _planned_with_8_a_chunk(tmp_path)
    r = CliRunner().invoke(main, [*args, "--resume"])
    assert r.exit_code == 1 and "Cannot connect to the Dask scheduler" in r.output and "0 of 32 chunks" in r.output, r.output  # 256 draws, 8 a chunk
    assert json.loads((out / "manifest.json").read_text())["chunk"] == 8
    r = CliRunner().invoke(main, [*args, "--resume", "--chunk", "16"])
    assert r.exit_code == 1 and "started with different chunk" in r.output, r.output


@pytest.mark.parametrize("text", ["[]", '"x"', "5", "null", '{"chunks": []}'])
def test_a_resume_of_a_manifest_that_is_not_a_table_is_refused(tmp_path, text):
    """A manifest.json that is JSON but not a table (or whose chunks are
    not one) is refused in one paragraph on --resume, as an unreadable one
    is; it raised an internal AttributeError."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "manifest.json").write_text(text)
    r = CliRunner().invoke(main, ["ensemble", str(DEMO), "-n", "4", "--seed", "3", "--uncertainty", str(table(tmp_path)), "-o", str(out), "-q", "--resume"])
    assert r.exit_code == 1 and "Traceback" not in r.output and "Internal error" not in r.output, r.output
    assert "no readable manifest.json" in r.output or "was started with different" in r.output, r.output


@pytest.mark.parametrize("bad", ["eight", 0, 2.5, True, None])
def test_a_resume_of_a_manifest_whose_chunk_is_not_a_count_says_so(tmp_path, bad):
    """A manifest whose chunk is not a whole number of draws of at least 1
    (edited, or not mineq's) is refused on a --resume without --chunk with
    that said, naming the file and the value; it used to fall back to the
    default chunk and report the run "started with different chunk".
    Against a scheduler that is not there: nothing is solved."""
    out, args = _planned_with_8_a_chunk(tmp_path)
    m = json.loads((out / "manifest.json").read_text())
    m["chunk"] = bad
    (out / "manifest.json").write_text(json.dumps(m))
    r = CliRunner().invoke(main, [*args, "--resume"])
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert f"records a chunk of {json.dumps(bad)}, not a whole number of draws of at least 1" in r.output and "manifest.json" in r.output, r.output
