//! The container network the nemesis runs: `compose.yaml` started under a project of its
//! own, with every validator's home a host directory (so the stores are read after the
//! run), and the faults themselves: `docker kill`/`start`/`pause`/`unpause`, packet filters
//! and `tc netem` inside a container's network namespace (entered from the host with
//! `nsenter`, so the image needs neither iptables nor NET_ADMIN), the clock offset file
//! libfaketime reads, and a ballast file on validator 3's size-limited tmpfs home.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anyhow::{Context, Result, bail};

/// libfaketime's multi-threaded build in the image (Debian's `libfaketime`).
pub const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

/// The network: validators `0..n` at `subnet.1i`.
#[derive(Debug)]
pub struct Cluster {
    /// The compose project name.
    pub project: String,
    /// compose.yaml.
    pub compose_file: PathBuf,
    /// The run's directory: `net/`, `node0/` … (validator homes), `logs/`.
    pub work: PathBuf,
    /// First three octets of the /24.
    pub subnet: String,
    /// Validators.
    pub n: usize,
    /// Variables compose.yaml reads.
    env: Vec<(String, String)>,
    /// Whether `docker compose` (v2) is there; else `docker-compose` (v1).
    v2: bool,
    /// Container ids, once found.
    ids: std::sync::Mutex<std::collections::HashMap<usize, String>>,
}

fn run(cmd: &mut Command) -> Result<Output> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    Ok(out)
}

fn check(cmd: &mut Command) -> Result<String> {
    let out = run(cmd)?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Cluster {
    /// A cluster description; nothing is started.
    pub fn new(
        compose_file: &Path,
        work: &Path,
        project: &str,
        subnet: &str,
        image: &str,
        port_base: u16,
    ) -> Result<Cluster> {
        if run(Command::new("docker").arg("info"))
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            bail!("no Docker Engine answers (`docker info` failed): start dockerd first");
        }
        if run(Command::new("docker").args(["image", "inspect", image]))
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            bail!("the image {image} does not exist: build it with scripts/docker-image.sh");
        }
        let v2 = run(Command::new("docker").args(["compose", "version"]))
            .map(|o| o.status.success())
            .unwrap_or(false);
        let n = 4;
        let mut env = vec![
            ("PALISADE_IMAGE".to_owned(), image.to_owned()),
            ("PALISADE_SUBNET".to_owned(), subnet.to_owned()),
            (
                "PALISADE_NET_DIR".to_owned(),
                work.join("net").display().to_string(),
            ),
            ("PALISADE_PRELOAD".to_owned(), FAKETIME_LIB.to_owned()),
        ];
        for i in 0..n {
            env.push((
                format!("PALISADE_HOME_{i}"),
                work.join(format!("node{i}")).display().to_string(),
            ));
            env.push((
                format!("PALISADE_RPC_PORT_{i}"),
                (port_base + i as u16).to_string(),
            ));
            env.push((
                format!("PALISADE_METRICS_PORT_{i}"),
                (port_base + 100 + i as u16).to_string(),
            ));
        }
        Ok(Cluster {
            project: project.to_owned(),
            compose_file: compose_file.to_owned(),
            work: work.to_owned(),
            subnet: subnet.to_owned(),
            n,
            env,
            v2,
            ids: Default::default(),
        })
    }

    fn compose(&self) -> Command {
        let mut c = if self.v2 {
            let mut c = Command::new("docker");
            c.arg("compose");
            c
        } else {
            Command::new("docker-compose")
        };
        c.arg("-p")
            .arg(&self.project)
            .arg("-f")
            .arg(&self.compose_file);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// Validator `i`'s address.
    pub fn ip(&self, i: usize) -> String {
        format!("{}.1{i}", self.subnet)
    }

    /// Validator `i`'s JSON-RPC URL (the container's own address: the host reaches the
    /// bridge network directly).
    pub fn rpc_url(&self, i: usize) -> String {
        format!("http://{}:8545", self.ip(i))
    }

    /// Validator `i`'s metrics URL.
    pub fn metrics_url(&self, i: usize) -> String {
        format!("http://{}:9615", self.ip(i))
    }

    /// Validator `i`'s home on the host.
    pub fn home(&self, i: usize) -> PathBuf {
        self.work.join(format!("node{i}"))
    }

    /// Remove whatever an earlier run of this project left (containers, network, volumes).
    pub fn down(&self) -> Result<()> {
        self.ids.lock().unwrap_or_else(|p| p.into_inner()).clear();
        check(
            self.compose()
                .args(["down", "-v", "--remove-orphans", "-t", "5"]),
        )?;
        Ok(())
    }

    /// Start the network (the genesis service first, then the validators).
    pub fn up(&self) -> Result<()> {
        check(self.compose().args(["up", "-d"]))?;
        Ok(())
    }

    /// Stop every validator with SIGTERM (30 s grace, compose.yaml).
    pub fn stop(&self) -> Result<()> {
        check(self.compose().args(["stop"]))?;
        Ok(())
    }

    /// Validator `i`'s container id (found by the labels compose puts on it, stopped or not;
    /// kept: `docker kill`/`start` keep a container's id).
    pub fn container(&self, i: usize) -> Result<String> {
        if let Some(id) = self.ids.lock().unwrap_or_else(|p| p.into_inner()).get(&i) {
            return Ok(id.clone());
        }
        let out = check(Command::new("docker").args([
            "ps",
            "-a",
            "-q",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.project),
            "--filter",
            &format!("label=com.docker.compose.service=node{i}"),
        ]))?;
        let id = out.trim();
        if id.is_empty() || id.contains('\n') {
            bail!("expected one container for node{i}, found {id:?}");
        }
        self.ids
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(i, id.to_owned());
        Ok(id.to_owned())
    }

    /// Whether libfaketime is loaded into validator `i`'s process (else a clock skew would
    /// do nothing).
    pub fn faketime_loaded(&self, i: usize) -> Result<bool> {
        let pid = self.pid(i)?;
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .with_context(|| format!("reading /proc/{pid}/maps"))?;
        Ok(maps.contains("libfaketime"))
    }

    /// (running, paused, exit code, finished at) of validator `i`'s container.
    pub fn state(&self, i: usize) -> Result<(bool, bool, i64, String)> {
        let out = check(Command::new("docker").args([
            "inspect",
            "-f",
            "{{.State.Running}} {{.State.Paused}} {{.State.ExitCode}} {{.State.FinishedAt}}",
            &self.container(i)?,
        ]))?;
        let f: Vec<&str> = out.split_whitespace().collect();
        if f.len() < 4 {
            bail!("docker inspect: unexpected {out:?}");
        }
        Ok((
            f[0] == "true",
            f[1] == "true",
            f[2].parse().unwrap_or(-1),
            f[3].to_owned(),
        ))
    }

    /// `docker <verb> <node i>` (kill, start, pause, unpause, stop).
    pub fn docker(&self, verb: &str, i: usize) -> Result<()> {
        check(Command::new("docker").args([verb, &self.container(i)?]))?;
        Ok(())
    }

    /// The host pid of validator `i`'s process (its network namespace is entered through it).
    fn pid(&self, i: usize) -> Result<String> {
        let pid = check(Command::new("docker").args([
            "inspect",
            "-f",
            "{{.State.Pid}}",
            &self.container(i)?,
        ]))?;
        let pid = pid.trim().to_owned();
        if pid == "0" || pid.is_empty() {
            bail!("node{i} is not running");
        }
        Ok(pid)
    }

    /// Run a host tool (`iptables`, `tc`) inside validator `i`'s network namespace.
    pub fn in_netns(&self, i: usize, args: &[&str]) -> Result<()> {
        let pid = self.pid(i)?;
        check(
            Command::new("nsenter")
                .args(["-t", &pid, "-n", "--"])
                .args(args),
        )?;
        Ok(())
    }

    /// Drop every packet validator `i` receives from validator `from` (a one-way cut: what
    /// `i` sends still arrives, but no TCP connection between them survives).
    pub fn drop_from(&self, i: usize, from: usize) -> Result<()> {
        self.in_netns(
            i,
            &[
                "iptables",
                "-I",
                "INPUT",
                "-s",
                &self.ip(from),
                "-j",
                "DROP",
            ],
        )
    }

    /// Remove every packet filter and qdisc in validator `i`'s namespace (a container that
    /// is not running has none to remove).
    pub fn heal(&self, i: usize) -> Result<()> {
        if self.pid(i).is_err() {
            return Ok(());
        }
        self.in_netns(i, &["iptables", "-F", "INPUT"])?;
        self.in_netns(i, &["iptables", "-F", "OUTPUT"])?;
        // no qdisc is an error for `tc qdisc del`: ignore it
        let _ = self.in_netns(i, &["tc", "qdisc", "del", "dev", "eth0", "root"]);
        Ok(())
    }

    /// Make validator `i`'s outgoing link slow and lossy; says how. With `tc netem` in the
    /// kernel: 150 ms ± 50 ms of delay and 5% loss. Without it (some VM kernels have no
    /// sch_netem): a `kbit` token bucket (`tc tbf`: packets queue up to 300 ms behind it,
    /// and beyond that are dropped) and 5% of outgoing packets dropped at random
    /// (`iptables -m statistic`).
    pub fn slow_link(&self, i: usize, kbit: u64) -> Result<String> {
        let netem = self.in_netns(
            i,
            &[
                "tc", "qdisc", "replace", "dev", "eth0", "root", "netem", "delay", "150ms", "50ms",
                "loss", "5%",
            ],
        );
        match netem {
            Ok(()) => return Ok("netem 150±50 ms, 5% loss".into()),
            Err(e)
                if format!("{e:#}").contains("qdisc kind is unknown")
                    || format!("{e:#}").contains("No such file or directory") => {}
            Err(e) => return Err(e),
        }
        self.in_netns(
            i,
            &[
                "tc",
                "qdisc",
                "replace",
                "dev",
                "eth0",
                "root",
                "tbf",
                "rate",
                &format!("{kbit}kbit"),
                "burst",
                "16kbit",
                "latency",
                "300ms",
            ],
        )?;
        self.in_netns(
            i,
            &[
                "iptables",
                "-I",
                "OUTPUT",
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                "0.05",
                "-j",
                "DROP",
            ],
        )?;
        Ok(format!(
            "no netem in this kernel: tbf {kbit} kbit/s (queues up to 300 ms), 5% loss"
        ))
    }

    /// How far validator `i`'s wall clock is off, in seconds, as a process in its
    /// container sees it (`date`, with the container's LD_PRELOAD and offset file).
    pub fn clock_offset(&self, i: usize) -> Result<i64> {
        let out = check(Command::new("docker").args(["exec", &self.container(i)?, "date", "+%s"]))?;
        let theirs: i64 = out.trim().parse().context("date printed no number")?;
        let ours = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Ok(theirs - ours)
    }

    /// Set validator `i`'s clock offset (libfaketime's format: `+5s`, `-3s`, `+0`).
    pub fn skew(&self, i: usize, offset: &str) -> Result<()> {
        let path = self.home(i).join("faketime");
        std::fs::write(&path, format!("{offset}\n"))
            .with_context(|| format!("writing {}", path.display()))
    }

    /// The last `lines` lines of validator `i`'s log.
    pub fn logs(&self, i: usize, lines: usize) -> String {
        let id = match self.container(i) {
            Ok(id) => id,
            Err(e) => return format!("{e:#}"),
        };
        match run(Command::new("docker").args(["logs", "--tail", &lines.to_string(), &id])) {
            Ok(o) => format!(
                "{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => format!("{e:#}"),
        }
    }

    /// Save every validator's whole log under `work/logs/`.
    pub fn save_logs(&self) {
        let dir = self.work.join("logs");
        let _ = std::fs::create_dir_all(&dir);
        for i in 0..self.n {
            let _ = std::fs::write(dir.join(format!("node{i}.log")), self.logs(i, 1_000_000));
        }
    }
}

/// Mount a tmpfs of `mb` MiB at `dir` (validator 3's home: the disk that fills).
pub fn mount_small_disk(dir: &Path, mb: u64) -> Result<()> {
    check(Command::new("mount").args([
        "-t",
        "tmpfs",
        "-o",
        &format!("size={mb}m,mode=0755"),
        "tmpfs",
        &dir.display().to_string(),
    ]))?;
    Ok(())
}

/// Unmount it (lazily: a container may still hold it for a moment).
pub fn unmount(dir: &Path) {
    let _ = run(Command::new("umount").arg("-l").arg(dir));
}

/// Free bytes on the filesystem holding `dir`.
pub fn free_bytes(dir: &Path) -> Result<u64> {
    let out = check(Command::new("df").args(["--output=avail", "-B1"]).arg(dir))?;
    out.lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .context("df printed no free size")
}

/// Fill the filesystem holding `dir` with ballast files (`ballast-N`), leaving less than a
/// page free (64 KiB left were seen to hold 20 s of a validator's votes). The validator writes at the same time, so a size read a moment ago may no
/// longer fit: each try takes what is free now, halving on failure.
pub fn fill_disk(dir: &Path) -> Result<()> {
    let mut k = 0;
    for _ in 0..64 {
        let free = free_bytes(dir)?;
        if free < 4096 {
            return Ok(());
        }
        let mut size = free;
        while size >= 4096 {
            let ballast = dir.join(format!("ballast-{k}"));
            let ok = run(Command::new("fallocate")
                .args(["-l", &size.to_string()])
                .arg(&ballast))?
            .status
            .success();
            if ok {
                k += 1;
                break;
            }
            let _ = std::fs::remove_file(&ballast);
            size /= 2;
        }
    }
    bail!(
        "could not fill {}: {} bytes still free",
        dir.display(),
        free_bytes(dir)?
    )
}

/// Give the space back.
pub fn free_disk(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("ballast-"))
        {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Copy `from` (validator 3's tmpfs home) to `to` before it is unmounted, so a failed or
/// kept run can be inspected.
pub fn save_copy(from: &Path, to: &Path) {
    let _ = run(Command::new("cp").arg("-a").arg(from).arg(to));
}
