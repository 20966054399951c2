"""Two machines for `ray up` on one: an SSH server in a network namespace of the test's own,
a head at 127.0.0.1 and a worker at 127.0.0.2, reached as a user made for it with a key made
for it, and `docs/cluster-onprem.yaml` pointed at that key.

Why a network namespace: Ray's processes listen on every interface of their host, whatever
`--node-ip-address` says; inside a namespace whose only interface is loopback, every address
they listen on is a loopback address, reachable from nowhere else. Why a user of its own:
`ray stop` (the first start command) ends every Ray process its user owns, and the nodes'
Ray must never touch the test session's own.

The nodes' virtual environment stands for a machine image that has the dependencies
installed: it reads the test's site-packages through a .pth file, carries the dependency
stamp of the file's setup, so `ray up` runs every setup command and installs the project
itself from the synced checkout without downloading torch again.

    reason = unavailable()                       # None, or why the test must skip
    with LoopbackCluster(tmp_path) as cluster:
        cluster.ray("up", "-y"); cluster.ray("exec", "ray status")
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER_FILE = REPO / "docs" / "cluster-onprem.yaml"
SSHD = "/usr/sbin/sshd"
HEAD, WORKER = "127.0.0.1", "127.0.0.2"
"""The two "machines": the addresses `docs/cluster-onprem.yaml` names."""


def unavailable() -> str | None:
    """Why this machine cannot host the loopback cluster, in one line; None when it can."""
    if os.geteuid() != 0:
        return "not root: making the nodes' user and network namespace needs root"
    for tool in (SSHD, "rsync", "ip", "ssh-keygen", "useradd"):
        if shutil.which(tool) is None:
            return f"no {tool} (make cluster-deps installs openssh-server and rsync)"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"no network namespaces here ({probe.stderr.strip() or 'unshare -n failed'})"
    return None


def _run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), check=True, capture_output=True, text=True, **kw)


class LoopbackCluster:
    """The namespace, the SSH server, the nodes' user and the cluster file; `ray(...)` runs
    the Ray CLI inside the namespace from the repository root, as a user's laptop would."""

    user = "scalesweep-node"

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ns = f"scalesweep-{os.getpid()}"
        # Everything the nodes' user reads: the key, the cluster file, the SSH server's files.
        self.dir = Path(f"/tmp/ssc-{os.getpid()}")  # short: Ray's socket paths are capped
        self.key = self.dir / "cluster_key"
        self.config = self.dir / "cluster-onprem.yaml"
        self.sshd_dir = self.dir / "sshd"
        self.home = Path()
        # Ray's temporary folder: one path for `ray up`'s side and the nodes, as on machines
        # that each have their own /tmp/ray (the local provider syncs its state file there).
        self.ray_tmp = self.dir / "rt"
        self.checkout = self.dir / "checkout"

    def __enter__(self) -> LoopbackCluster:
        try:
            return self._enter()
        except BaseException:
            self._clean()  # no namespace or server left behind by a failed start
            raise

    def _enter(self) -> LoopbackCluster:
        self.dir.mkdir(mode=0o755)
        _run("ip", "netns", "add", self.ns)
        _run("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
        self._make_user()
        self._start_sshd()
        raw = yaml.safe_load(CLUSTER_FILE.read_text())
        raw["auth"]["ssh_private_key"] = str(self.key)
        # Both "machines" are one user on one host, where the worker's `ray stop` would end
        # the head's Ray as well: the worker starts without it (machines of their own keep it).
        raw["worker_start_ray_commands"] = [
            c for c in raw["worker_start_ray_commands"] if c.strip() != "ray stop"
        ]
        # One CPU per "machine", whatever this host has: two one-CPU trials at a time can
        # only run one on each node, so the sweep must cross the node boundary.
        for key in ("head_start_ray_commands", "worker_start_ray_commands"):
            raw[key] = [c + " --num-cpus=1" if "ray start" in c else c for c in raw[key]]
        assert raw["auth"]["ssh_user"] == self.user
        self.config.write_text(yaml.safe_dump(raw, sort_keys=False))
        self.ray_tmp.mkdir()
        # The user's checkout: the working tree without what .gitignore leaves out (`ray up`
        # hashes every file under a mount, so it must all be readable by its user).
        _run(
            "rsync", "-a", "--exclude=.git", "--filter=:- .gitignore",
            f"{REPO}/", f"{self.checkout}/",
        )  # fmt: skip
        _run("chown", "-R", f"{self.user}:{self.user}", str(self.dir))
        return self

    def _make_user(self) -> None:
        try:
            pwd.getpwnam(self.user)
        except KeyError:
            _run("useradd", "--create-home", "--shell", "/bin/bash", self.user)
        _run("usermod", "-p", "*", self.user)  # no password, but not locked: keys work
        self.home = Path(pwd.getpwnam(self.user).pw_dir)
        for leftover in ("scalesweep", "results", ".ray"):
            shutil.rmtree(self.home / leftover, ignore_errors=True)
        # Ray's temporary folder of the nodes, apart from the test's and the laptop's.
        (self.home / ".bashrc").write_text(f"export RAY_TMPDIR={self.ray_tmp}\n")
        # The image's venv holds nothing of its own: pip, setuptools and the rest come from the
        # test's site-packages, as the setup's dependency step would have installed them (a
        # venv's own bundled setuptools is older than the project's build needs).
        venv = self.home / "scalesweep-venv"
        shutil.rmtree(venv, ignore_errors=True)
        self._as_user(f"python3 -m venv --without-pip {venv}")
        site = sysconfig.get_paths()["purelib"]
        version = f"python{sys.version_info.major}.{sys.version_info.minor}"
        (venv / f"lib/{version}/site-packages/test-image.pth").write_text(site + "\n")
        for name, entry in (("ray", "ray.scripts.scripts"), ("pip", "pip._internal.cli.main")):
            script = venv / "bin" / name
            script.write_text(f"#!{venv}/bin/python\nfrom {entry} import main\nmain()\n")
            script.chmod(0o755)
        shutil.copy(REPO / "constraints.txt", venv / ".constraints-installed")
        _run("chown", "-R", f"{self.user}:{self.user}", str(self.home))
        for parent in Path(site).parents:  # the image reads the test's packages
            if parent != Path("/"):
                parent.chmod(parent.stat().st_mode | 0o005)

    def _as_user(self, command: str) -> str:
        return _run("su", "-", self.user, "-c", command).stdout

    def _start_sshd(self) -> None:
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.key))
        # The server reads the authorized keys as the nodes' user: a folder it can reach.
        self.sshd_dir.mkdir(mode=0o755)  # the server reads it as root, and as the user
        host_key = self.sshd_dir / "host_key"
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key))
        keys = self.sshd_dir / "authorized_keys"
        shutil.copy(self.key.with_suffix(".pub"), keys)
        keys.chmod(0o644)
        Path("/run/sshd").mkdir(exist_ok=True)
        self._serve_ssh(HEAD, WORKER)

    def _serve_ssh(self, *addresses: str) -> None:
        """(Re)start the SSH server, answering on `addresses` only."""
        config = self.sshd_dir / "sshd_config"
        config.write_text(
            "".join(f"ListenAddress {ip}:22\n" for ip in addresses)
            + f"HostKey {self.sshd_dir / 'host_key'}\nPidFile {self.sshd_dir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.sshd_dir / 'authorized_keys'}\nAllowUsers {self.user}\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nStrictModes no\n"
            "UsePAM no\n"
        )
        log = str(self.sshd_dir / "sshd.log")
        _run("ip", "netns", "exec", self.ns, SSHD, "-f", str(config), "-E", log)
        for ip in addresses:  # fail now, not after ray up's 5 min of retries
            for _ in range(10):  # the daemon may still be binding its addresses
                probe = subprocess.run(
                    ["ip", "netns", "exec", self.ns, "ssh", "-i", str(self.key), "-o",
                     "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
                     "UserKnownHostsFile=/dev/null", f"{self.user}@{ip}", "true"],
                    capture_output=True, text=True, timeout=30,
                )  # fmt: skip
                if "Connection refused" not in probe.stderr:
                    break
                time.sleep(1)
            assert probe.returncode == 0, f"ssh to {ip}: {probe.stderr.strip()}; see {log}"

    def _ray_command(self, *args: str) -> list[str]:
        exe = self.home / "scalesweep-venv/bin/ray"  # the same Ray as the nodes'
        words = [str(exe), args[0], str(self.config), *args[1:]]
        # Ray 2.60's autoscaler v2 never starts the local provider's workers (the head logs
        # "Adding 1 node(s)" forever); `ray up` keeps v1 with this variable (README: same).
        env = f"RAY_TMPDIR={self.ray_tmp} RAY_UP_enable_autoscaler_v2=0"
        inner = f"cd {self.checkout} && {env} " + shlex.join(words)
        return ["ip", "netns", "exec", self.ns, "su", "-", self.user, "-c", inner]

    def ray(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
        """`ray <args> <cluster file>` in the namespace, from the checkout's root, as the
        nodes' user (the one who owns the key, like a user on their laptop)."""
        cmd = self._ray_command(*args)
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)

    def ray_background(self, *args: str) -> subprocess.Popen:
        """`ray <args> <cluster file>` left running (`ray dashboard`'s SSH forward), in a
        process group of its own so that ending it ends what it started."""
        cmd = self._ray_command(*args)
        return subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )

    def exec(self, command: str, timeout: float = 240) -> str:
        """Output of a command run on the head through `ray exec` (raises if it failed)."""
        done = self.ray("exec", command, timeout=timeout)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    def monitor_log(self, lines: int = 40) -> str:
        """The end of the head's autoscaler log (it starts the workers), for a failure."""
        logs = self.ray_tmp / "ray/session_latest/logs"
        text = "".join(p.read_text(errors="replace") for p in sorted(logs.glob("monitor.*")))
        return "\n".join(text.splitlines()[-lines:])

    def in_namespace(self, *cmd: str, timeout: float = 120) -> str:
        """Output of a command run as root inside the namespace (where the dashboard and the
        nodes' ports are); raises if it failed."""
        done = subprocess.run(
            ["ip", "netns", "exec", self.ns, *cmd], capture_output=True, text=True,
            timeout=timeout, cwd=REPO,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout

    def lose(self, ip: str) -> list[int]:
        """The machine at `ip` is gone, as if its power were cut: SIGKILL every Ray process of
        its node (those started for its address and all they started) and stop answering SSH
        there, so the head's autoscaler cannot start Ray on it again. Returns the pids."""
        procs = {}  # pid -> (parent, command line) of everything in the namespace
        for pid in self.pids():
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            procs[pid] = (int(stat.rsplit(")", 1)[1].split()[1]), cmdline.decode(errors="replace"))
        doomed = {p for p, (_, cmd) in procs.items() if f"={ip} " in cmd + " "}
        while grown := {p for p, (parent, _) in procs.items() if parent in doomed} - doomed:
            doomed |= grown
        pid_file = self.sshd_dir / "sshd.pid"
        os.kill(int(pid_file.read_text()), 9)  # the listener only: open sessions stay
        pid_file.unlink(missing_ok=True)
        for pid in doomed:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        self._serve_ssh(*[a for a in (HEAD, WORKER) if a != ip])
        return sorted(doomed)

    def pids(self) -> list[int]:
        out = subprocess.run(["ip", "netns", "pids", self.ns], capture_output=True, text=True)
        return [int(p) for p in out.stdout.split()]

    def __exit__(self, *exc: object) -> None:
        try:
            self.ray("down", "-y", timeout=120)
        finally:
            self._clean()

    def _clean(self) -> None:
        for pid in self.pids():  # the SSH server and anything the nodes left: ours
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)
