//! The supervisor's single-threaded poll loop: container output to the CRI log and attach
//! clients, attach input to the container's stdin, and the exit record once the container was
//! reaped.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};

use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use rustix::event::{poll, PollFd, PollFlags};

use super::launch::{self, ContainerStdio, Launcher};
use crate::runtime::attach::{Decoder, Frame};
use crate::runtime::logs::{LogStream, LogWriter};
use crate::runtime::pidfd::Pidfd;
use crate::runtime::pty::{self, Pty};
use crate::runtime::spec::ContainerSpec;
use crate::runtime::state::{now_nanos, write_json, Bundle, ExitRecord};

/// An attach client sends and receives frames; output it cannot take fast enough is dropped
/// with the client once more than this is queued.
const MAX_CLIENT_BACKLOG: usize = 4 << 20;

struct Client {
    stream: UnixStream,
    decoder: Decoder,
    out: Vec<u8>,
    closed: bool,
}

pub struct Supervisor {
    bundle: Bundle,
    spec: ContainerSpec,
    launcher: Launcher,
    log: LogWriter,
    listener: UnixListener,
    /// Container stdio as the container gets it; handed to `init::spawn`, then closed here.
    child_stdio: Option<ContainerStdio>,
    /// Our ends: output readers (stdout or the pty master, and stderr) and the stdin writer.
    stdout: Option<File>,
    stderr: Option<File>,
    stdin: Option<File>,
    stdin_pending: Vec<u8>,
    pty_master: Option<OwnedFd>,
    clients: Vec<Client>,
    attached_once: bool,
    oom_before: u64,
}

fn nonblocking(fd: impl AsFd) -> io::Result<()> {
    let flags = rustix::fs::fcntl_getfl(&fd)?;
    rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK)?;
    Ok(())
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?)
}

impl Supervisor {
    /// Everything that can fail before the container exists: log file, stdio, attach socket.
    pub fn prepare(bundle: &Bundle, spec: ContainerSpec) -> Result<Supervisor, String> {
        let launcher = Launcher::load(bundle, &spec)?;
        let log = LogWriter::open(&spec.log_path, spec.log_max_bytes)
            .map_err(|e| format!("open log {}: {e}", spec.log_path.display()))?;
        let sock = bundle.attach_socket();
        let _ = std::fs::remove_file(&sock);
        let listener = crate::runtime::state::with_socket_path(&sock, |p| UnixListener::bind(p))
            .map_err(|e| format!("listen on {}: {e}", sock.display()))?;
        listener.set_nonblocking(true).map_err(|e| e.to_string())?;
        let mut sup = Supervisor {
            bundle: bundle.clone(),
            launcher,
            log,
            listener,
            child_stdio: None,
            stdout: None,
            stderr: None,
            stdin: None,
            stdin_pending: Vec::new(),
            pty_master: None,
            clients: Vec::new(),
            attached_once: false,
            oom_before: 0,
            spec,
        };
        sup.make_stdio().map_err(|e| format!("create stdio: {e}"))?;
        Ok(sup)
    }

    fn make_stdio(&mut self) -> io::Result<()> {
        if self.spec.tty {
            let Pty { master, slave } = Pty::open()?;
            nonblocking(&master)?;
            let dup = |fd: &OwnedFd| fd.try_clone();
            self.stdout = Some(File::from(dup(&master)?));
            if self.spec.stdin {
                self.stdin = Some(File::from(dup(&master)?));
            }
            self.child_stdio = Some(ContainerStdio {
                stdin: Some(dup(&slave)?),
                stdout: dup(&slave)?,
                stderr: slave,
                tty: true,
            });
            self.pty_master = Some(master);
            return Ok(());
        }
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        nonblocking(&out_r)?;
        nonblocking(&err_r)?;
        self.stdout = Some(File::from(out_r));
        self.stderr = Some(File::from(err_r));
        let stdin = if self.spec.stdin {
            let (in_r, in_w) = pipe()?;
            nonblocking(&in_w)?;
            self.stdin = Some(File::from(in_w));
            Some(in_r)
        } else {
            None
        };
        self.child_stdio = Some(ContainerStdio {
            stdin,
            stdout: out_w,
            stderr: err_w,
            tty: false,
        });
        Ok(())
    }

    /// Starts the container; returns its host pid once it exec'd.
    pub fn start(&mut self) -> Result<i32, String> {
        self.oom_before = self.launcher.oom_kills(&self.spec);
        let stdio = self.child_stdio.take().expect("stdio prepared");
        // Our copies of the container's ends close when `stdio` is dropped inside spawn's
        // caller scope, so EOF on the pipes means the container side is gone.
        launch::spawn(&mut self.launcher, &self.spec, stdio)
    }

    /// Runs until the container was reaped and `exit.json` written.
    pub fn run(mut self, started_at: i64) -> Result<(), String> {
        let pid = self.launcher.pid();
        let pidfd = Pidfd::open_checked(
            std::path::Path::new("/proc"),
            pid,
            crate::runtime::pidfd::proc_starttime(std::path::Path::new("/proc"), pid).unwrap_or(0),
        )
        .map_err(|e| format!("pidfd_open {pid}: {e}"))?;
        loop {
            let exited = match &pidfd {
                Some(fd) => self.poll_once(fd).map_err(|e| format!("poll: {e}"))?,
                // Gone before we could pin it: it already exited (a zombie we reap now).
                None => true,
            };
            if exited {
                break;
            }
        }
        let status = waitpid(Pid::from_raw(pid), None).map_err(|e| format!("waitpid: {e}"))?;
        let finished_at = now_nanos();
        self.drain(finished_at);
        let record = self.exit_record(status, started_at, finished_at);
        write_json(&self.bundle.exit(), &record).map_err(|e| format!("write exit.json: {e}"))?;
        // Bounded: a client that stopped reading must not keep the shim (and so `wait_exit`).
        for c in &mut self.clients {
            let _ = c.stream.set_nonblocking(false);
            let _ = c
                .stream
                .set_write_timeout(Some(std::time::Duration::from_secs(1)));
            let _ = c.stream.write_all(&c.out);
        }
        let _ = std::fs::remove_file(self.bundle.attach_socket());
        Ok(())
    }

    fn exit_record(&self, status: WaitStatus, started_at: i64, finished_at: i64) -> ExitRecord {
        let (code, signal) = match status {
            WaitStatus::Exited(_, code) => (code, None),
            WaitStatus::Signaled(_, sig, _) => (128 + sig as i32, Some(sig as i32)),
            _ => (255, None),
        };
        // The kernel's OOM killer sends SIGKILL; the cgroup's counter tells it from `kill -9`.
        let oom_killed =
            signal == Some(libc_sigkill()) && self.launcher.oom_kills(&self.spec) > self.oom_before;
        ExitRecord {
            exit_code: code,
            signal,
            oom_killed,
            started_at,
            finished_at,
        }
    }

    /// One poll round; true once the container exited.
    fn poll_once(&mut self, pidfd: &Pidfd) -> io::Result<bool> {
        let out_flags = PollFlags::IN;
        let mut fds: Vec<PollFd<'_>> = Vec::new();
        fds.push(PollFd::new(pidfd, PollFlags::IN));
        fds.push(PollFd::new(&self.listener, PollFlags::IN));
        let mut slots = [usize::MAX; 3];
        if let Some(f) = &self.stdout {
            slots[0] = fds.len();
            fds.push(PollFd::new(f, out_flags));
        }
        if let Some(f) = &self.stderr {
            slots[1] = fds.len();
            fds.push(PollFd::new(f, out_flags));
        }
        if let (Some(f), false) = (&self.stdin, self.stdin_pending.is_empty()) {
            slots[2] = fds.len();
            fds.push(PollFd::new(f, PollFlags::OUT));
        }
        let client_base = fds.len();
        for c in &self.clients {
            let mut flags = PollFlags::IN;
            if !c.out.is_empty() {
                flags |= PollFlags::OUT;
            }
            fds.push(PollFd::new(&c.stream, flags));
        }
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        let revents: Vec<PollFlags> = fds.iter().map(|f| f.revents()).collect();
        drop(fds);
        let ready = |i: usize| i != usize::MAX && !revents[i].is_empty();
        if ready(slots[0]) {
            self.read_output(LogStream::Stdout);
        }
        if ready(slots[1]) {
            self.read_output(LogStream::Stderr);
        }
        if ready(slots[2]) {
            self.flush_stdin();
        }
        for (i, flags) in revents[client_base..].iter().enumerate() {
            if !flags.is_empty() {
                self.service_client(i, *flags);
            }
        }
        self.reap_clients();
        if !revents[1].is_empty() {
            self.accept();
        }
        Ok(!revents[0].is_empty())
    }

    /// Reads what is available on one output stream; EOF (or EIO on a pty) closes it.
    fn read_output(&mut self, stream: LogStream) -> bool {
        let slot = match stream {
            LogStream::Stdout => &mut self.stdout,
            LogStream::Stderr => &mut self.stderr,
        };
        let Some(f) = slot else { return false };
        let mut buf = [0u8; 32 * 1024];
        match f.read(&mut buf) {
            Ok(0) => {
                *slot = None;
                false
            }
            Ok(n) => {
                let data = &buf[..n];
                if let Err(e) = self.log.write(stream, data, now_nanos()) {
                    eprintln!("kedge shim: log write: {e}");
                }
                let frame = match stream {
                    LogStream::Stdout => Frame::Stdout(data.to_vec()),
                    LogStream::Stderr => Frame::Stderr(data.to_vec()),
                }
                .encode();
                for c in &mut self.clients {
                    c.out.extend_from_slice(&frame);
                    if c.out.len() > MAX_CLIENT_BACKLOG {
                        c.closed = true;
                    }
                }
                true
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => true,
            Err(_) => {
                *slot = None;
                false
            }
        }
    }

    /// After the exit: whatever the container wrote before it died is still buffered.
    fn drain(&mut self, now: i64) {
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            for _ in 0..4096 {
                if !self.read_output(stream) {
                    break;
                }
            }
        }
        for c in &mut self.clients {
            let _ = c.stream.set_nonblocking(true);
            let _ = c.stream.write(&c.out).map(|n| c.out.drain(..n));
        }
        if let Err(e) = self.log.flush_partial(now) {
            eprintln!("kedge shim: log write: {e}");
        }
    }

    fn flush_stdin(&mut self) {
        let Some(f) = &mut self.stdin else {
            self.stdin_pending.clear();
            return;
        };
        match f.write(&self.stdin_pending) {
            Ok(n) => {
                self.stdin_pending.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => {
                // The container closed its stdin.
                self.stdin = None;
                self.stdin_pending.clear();
            }
        }
    }

    fn close_stdin(&mut self) {
        if self.pty_master.is_some() {
            // A tty has no half-close: send EOF (^D) through the line discipline instead.
            self.stdin_pending.push(4);
            self.flush_stdin();
            return;
        }
        // Input the container has not taken yet gets one last chance; then EOF.
        if let Some(f) = &mut self.stdin {
            let _ = f.write(&self.stdin_pending);
        }
        self.stdin_pending.clear();
        self.stdin = None;
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            self.clients.push(Client {
                stream,
                decoder: Decoder::default(),
                out: Vec::new(),
                closed: false,
            });
        }
    }

    fn service_client(&mut self, i: usize, flags: PollFlags) {
        if flags.contains(PollFlags::OUT) || flags.intersects(PollFlags::ERR | PollFlags::HUP) {
            let c = &mut self.clients[i];
            match c.stream.write(&c.out) {
                Ok(n) => {
                    c.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => c.closed = true,
            }
        }
        if !flags.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR) {
            return;
        }
        let mut buf = [0u8; 32 * 1024];
        let n = match self.clients[i].stream.read(&mut buf) {
            Ok(0) => {
                self.clients[i].closed = true;
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(_) => {
                self.clients[i].closed = true;
                return;
            }
        };
        self.clients[i].decoder.push(&buf[..n]);
        loop {
            match self.clients[i].decoder.next_frame() {
                Ok(Some(frame)) => self.handle_frame(frame),
                Ok(None) => break,
                Err(_) => {
                    self.clients[i].closed = true;
                    break;
                }
            }
        }
    }

    fn handle_frame(&mut self, frame: Frame) {
        match frame {
            Frame::Stdin(data) => {
                if self.stdin.is_some() {
                    self.stdin_pending.extend_from_slice(&data);
                    self.flush_stdin();
                }
            }
            Frame::Resize { width, height } => {
                if let Some(m) = &self.pty_master {
                    let _ = pty::resize(m, width, height);
                }
            }
            Frame::CloseStdin => self.close_stdin(),
            Frame::Stdout(_) | Frame::Stderr(_) => {}
        }
    }

    /// Drops closed clients; with `stdin_once` the first client leaving closes stdin.
    fn reap_clients(&mut self) {
        let before = self.clients.len();
        self.clients.retain(|c| !c.closed);
        if self.clients.len() < before && self.spec.stdin_once && !self.attached_once {
            self.attached_once = true;
            self.close_stdin();
        }
    }
}

fn libc_sigkill() -> i32 {
    nix::sys::signal::Signal::SIGKILL as i32
}
