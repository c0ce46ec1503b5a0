//! The control port, with the real binary: `init --control-port` writes its keys, `start`
//! serves it on 127.0.0.1 only, and an operator's session goes through roles, commands and
//! bad lines as with the reference's (`Server.hs` `runCPClient`).

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use common::{
    connect, ed_key, new_queue, next_event, next_msg, run_binary, start_binary, EVENT_WAIT,
};
use simplex_encoding::string::base64url_encode;
use smp_client::ClientError;
use smp_proto::command::{MsgFlags, SubscriptionMode};
use smp_proto::error::ErrorType;
use smp_proto::response::Response;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

const QUIET: MsgFlags = MsgFlags {
    notification: false,
};

/// `init -y --control-port 0` (any free port), then its two passwords from the INI.
fn init_with_control(dir: &Path) -> (String, String) {
    let r = run_binary(dir, &["init", "-y", "--control-port", "0"], "");
    assert!(r.ok, "init: {}{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("Control port enabled on 127.0.0.1:0"),
        "{}",
        r.stdout
    );
    let ini = std::fs::read_to_string(dir.join("cfg/smp-server.ini")).expect("ini");
    let key = |k: &str| {
        ini.lines()
            .find_map(|l| l.strip_prefix(&format!("{k} = ")))
            .unwrap_or_else(|| panic!("{k} in the INI:\n{ini}"))
            .to_owned()
    };
    assert_eq!(key("control_port"), "0");
    let (admin, user) = (
        key("control_port_admin_password"),
        key("control_port_user_password"),
    );
    assert!(!r.stdout.contains(&admin) && !r.stdout.contains(&user));
    (admin, user)
}

/// The control port's address, from the start banner.
fn control_addr(printed: &[String]) -> SocketAddr {
    printed
        .iter()
        .find_map(|l| l.strip_prefix("Serving control port on "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("control port in the banner: {printed:?}"))
}

/// An operator's session.
struct Cp {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

impl Cp {
    /// Connects and reads the greeting, which must be the reference's.
    async fn open(addr: SocketAddr) -> Cp {
        let (r, writer) = TcpStream::connect(addr)
            .await
            .expect("connect to the control port")
            .into_split();
        let mut cp = Cp {
            reader: BufReader::new(r),
            writer,
        };
        assert_eq!(cp.line().await.as_deref(), Some("SMP server control port"));
        assert_eq!(
            cp.line().await.as_deref(),
            Some("'help' for supported commands")
        );
        cp
    }

    /// The next line; `None` when the server closed the session.
    async fn line(&mut self) -> Option<String> {
        let mut l = String::new();
        let n = tokio::time::timeout(EVENT_WAIT, self.reader.read_line(&mut l))
            .await
            .expect("a line within the wait")
            .expect("read");
        (n > 0).then(|| l.trim_end_matches('\n').to_owned())
    }

    /// Sends `line`, then `help` (allowed in any role), and returns what was printed before
    /// help's `commands: …` line: exactly the answer to `line`.
    async fn cmd(&mut self, line: &str) -> Vec<String> {
        self.writer
            .write_all(format!("{line}\nhelp\n").as_bytes())
            .await
            .expect("write");
        let mut out = Vec::new();
        loop {
            let l = self.line().await.expect("the session goes on");
            if l.starts_with("commands: ") {
                return out;
            }
            out.push(l);
        }
    }

    /// The one line answering `line`.
    async fn one(&mut self, line: &str) -> String {
        let out = self.cmd(line).await;
        assert_eq!(out.len(), 1, "{line}: {out:?}");
        out.into_iter().next().unwrap_or_default()
    }
}

fn has(out: &[String], line: &str) -> bool {
    out.iter().any(|l| l == line)
}

/// An operator's sessions in order, as one story over one relay (long on purpose: each step
/// reads the state the previous ones left: unauthenticated, user, admin, delete, save,
/// restart).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_session_roles_commands_and_bad_lines() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (admin, user) = init_with_control(dir);
    let mut s = start_binary(dir);
    let addr = control_addr(&s.printed);
    assert_eq!(addr.ip(), IpAddr::from([127, 0, 0, 1]));

    // A subscribed queue with a message waiting for its ACK, and a second client.
    let (c, mut events) = connect(&s.address()).await;
    let q = new_queue(&c, ed_key(), SubscriptionMode::Subscribe).await;
    c.send_message(None, &q.snd_id, QUIET, b"hello")
        .await
        .expect("SEND");
    next_msg(&mut events, &q).await;
    let (sender, _sender_events) = connect(&s.address()).await;
    let sid = base64url_encode(&q.snd_id);

    let mut cp = Cp::open(addr).await;
    // Unauthenticated, a wrong password, garbage: the session goes on.
    assert_eq!(cp.one("stats").await, "AUTH");
    assert_eq!(cp.one("server-info").await, "AUTH");
    assert_eq!(
        cp.one("auth wrong-password").await,
        "Current role is CPRNone"
    );
    assert_eq!(cp.one("stats").await, "AUTH");
    assert!(cp.one("frobnicate now").await.starts_with("error: "));
    assert!(cp.one("stats please").await.starts_with("error: "));
    assert!(cp.one("delete !!!").await.starts_with("error: "));
    assert!(cp.cmd("").await.is_empty(), "an empty line answers nothing");
    let long = "x".repeat(10_000);
    assert_eq!(
        cp.one(&long).await,
        "error: line longer than 4096 bytes",
        "skipped to its end"
    );
    cp.writer.write_all(b"st\xffats\n").await.expect("write");
    assert_eq!(cp.line().await.as_deref(), Some("error: not UTF-8 text"));

    // The user role: user commands, not admin ones.
    assert_eq!(
        cp.one(&format!("auth {user}")).await,
        "Current role is CPRUser"
    );
    assert_eq!(
        cp.one(&format!("auth {admin}")).await,
        "Current role is CPRUser, start new session to change."
    );
    for admin_only in ["clients", "save", &format!("delete {sid}"), "suspend"] {
        assert_eq!(cp.one(admin_only).await, "AUTH", "{admin_only} as user");
    }
    let stats = cp.cmd("stats").await;
    assert!(
        stats[0].starts_with("fromTime: ") && stats[0].ends_with(" UTC"),
        "{stats:?}"
    );
    for l in [
        "qCreated: 1",
        "qSecured: 0",
        "msgSent: 1",
        "qCount 2: 1",
        "notifiers: 0",
        "other SUB events (auth, duplicate, prohibited): (0,0,0)",
        "pRelays: requests=0, successes=0, errorsConnect=0, errorsCompat=0, errorsOther=0",
        "pMsgFwdsRecv: 0",
    ] {
        assert!(has(&stats, l), "{l} in {stats:?}");
    }
    assert!(
        !stats.iter().any(|l| l.starts_with("ntfCount 2")),
        "admin only"
    );
    let sockets = cp.cmd("sockets").await;
    assert_eq!(sockets[0], format!("Sockets for port {}:", s.port));
    assert!(
        has(&sockets, "accepted: 2") && has(&sockets, "active: 2"),
        "{sockets:?}"
    );
    let info = cp.cmd("server-info").await;
    assert!(info[0].starts_with("Threads: "), "{info:?}");
    for l in [
        "Clients: 2",
        "SMP subscriptions: 1",
        "SMP subscribed clients: 1",
    ] {
        assert!(has(&info, l), "{l} in {info:?}");
    }
    assert!(
        !info.iter().any(|l| l.contains("(via clients)")),
        "admin only"
    );
    let status = cp.one(&format!("status {sid}")).await;
    assert!(
        status.starts_with("status: EntityActive, updatedAt: ")
            && status.ends_with(", queueMode: Just QMMessaging"),
        "{status}"
    );
    assert_eq!(cp.one("status AAAA").await, "error: AUTH");

    // `quit` closes the session.
    cp.writer.write_all(b"quit\n").await.expect("write");
    assert_eq!(cp.line().await, None, "closed after quit");

    // The admin role.
    let mut cp = Cp::open(addr).await;
    assert_eq!(
        cp.one(&format!("auth {admin}")).await,
        "Current role is CPRAdmin"
    );
    assert!(has(&cp.cmd("stats").await, "ntfCount 2: 0"));
    let clients = cp.cmd("clients").await;
    assert_eq!(
        clients[0],
        "clientId,sessionId,connected,createdAt,rcvActiveAt,sndActiveAt,age,subscriptions"
    );
    assert_eq!(clients.len(), 3, "{clients:?}");
    let subs: Vec<&str> = clients[1..]
        .iter()
        .map(|r| r.rsplit(',').next().unwrap_or_default())
        .collect();
    assert_eq!(subs, ["1", "0"], "{clients:?}");
    assert!(has(
        &cp.cmd("server-info").await,
        "SMP subscriptions (via clients): 1"
    ));
    assert_eq!(cp.one("suspend").await, "suspend not implemented");

    // `delete` removes the queue and its message; its parties then get ERR AUTH.
    assert_eq!(
        cp.one(&format!("delete {sid}")).await,
        "ok, 1 messages deleted"
    );
    assert_eq!(cp.one(&format!("status {sid}")).await, "error: AUTH");
    assert_eq!(cp.one(&format!("delete {sid}")).await, "error: AUTH");
    let sent = sender.send_message(None, &q.snd_id, QUIET, b"late").await;
    assert!(
        matches!(sent, Err(ClientError::Server(ErrorType::Auth))),
        "{sent:?}"
    );
    let got = c.get_message(&q.rcv_key, &q.rcv_id).await;
    assert!(
        matches!(got, Err(ClientError::Server(ErrorType::Auth))),
        "{got:?}"
    );
    let stats = cp.cmd("stats").await;
    assert!(
        has(&stats, "qDeletedAll: 1") && has(&stats, "qCount 2: 0"),
        "{stats:?}"
    );

    // `save` writes the messages a shutdown would: a message sent now survives `kill -9`.
    let q2 = new_queue(&c, ed_key(), SubscriptionMode::OnlyCreate).await;
    sender
        .send_message(None, &q2.snd_id, QUIET, b"saved")
        .await
        .expect("SEND");
    let messages = dir.join("log/smp-server-messages.log");
    assert!(!messages.exists());
    assert_eq!(
        cp.cmd("save").await,
        ["saving server state...", "server state saved!"]
    );
    assert!(messages.exists(), "save wrote the messages");
    c.close().await;
    sender.close().await;
    s.kill9();

    let s = start_binary(dir);
    let (c, _events) = connect(&s.address()).await;
    let m = c
        .get_message(&q2.rcv_key, &q2.rcv_id)
        .await
        .expect("GET")
        .expect("the saved message was restored");
    match smp_client::decrypt_message(&q2.dh_secret, &m).expect("decrypts") {
        smp_proto::message::RcvMsgBody::Data { body, .. } => assert_eq!(body, b"saved"),
        other => panic!("expected the message, got {other:?}"),
    }
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_port_is_not_reachable_on_other_addresses() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    init_with_control(dir);
    let s = start_binary(dir);
    let addr = control_addr(&s.printed);
    assert!(addr.ip().is_loopback(), "{addr}");
    Cp::open(addr).await;
    // This machine's address on its network (a UDP "connection" sends nothing).
    let own = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|u| u.connect("192.0.2.1:9").map(|()| u))
        .and_then(|u| u.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    let Some(ip) = own else {
        println!(
            "NOTICE: no non-loopback address on this machine; only the bound address was checked"
        );
        return;
    };
    let refused = TcpStream::connect((ip, addr.port())).await;
    assert!(refused.is_err(), "the control port answered on {ip}");
}

/// Every control-port key is read strictly: a bad value refuses the start, with its file and
/// line, without repeating a password.
#[test]
fn bad_control_port_settings_refuse_the_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (admin, _) = init_with_control(dir);
    let ini = dir.join("cfg/smp-server.ini");
    let good = std::fs::read_to_string(&ini).expect("ini");
    let cases: &[(&str, &str, &str, &str)] = &[
        ("TRANSPORT", "control_port", "70000", "invalid port `70000`"),
        ("TRANSPORT", "control_port", "abc", "invalid port `abc`"),
        (
            "AUTH",
            "control_port_admin_password",
            "pa ss",
            "only printable ASCII characters without whitespace are allowed",
        ),
        (
            "AUTH",
            "control_port_user_password",
            "pa:ss",
            "'@', ':' and '/' are not allowed",
        ),
        (
            "AUTH",
            "daily_block_queue_quota",
            "-2",
            "invalid value `-2`, expected a whole number of queues",
        ),
    ];
    for (section, key, value, why) in cases {
        let mut n = 0;
        let text: Vec<String> = good
            .lines()
            .enumerate()
            .map(|(i, l)| {
                if l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("# {key} = ")) {
                    n = i + 1;
                    format!("{key} = {value}")
                } else {
                    l.to_owned()
                }
            })
            .collect();
        assert_ne!(n, 0, "{key} in the INI");
        std::fs::write(&ini, text.join("\n") + "\n").expect("write ini");
        let r = run_binary(dir, &["start"], "");
        assert!(!r.ok, "{key} = {value} refused");
        let expected = format!("Error: {}:{n}: [{section}] {key}: {why}", ini.display());
        assert!(r.stderr.contains(&expected), "{expected}\nin: {}", r.stderr);
        assert!(!r.stderr.contains("pa ss") && !r.stderr.contains("pa:ss"));
    }
    // The good INI starts again.
    std::fs::write(&ini, &good).expect("restore ini");
    let s = start_binary(dir);
    assert!(control_addr(&s.printed).ip().is_loopback());
    assert!(good.contains(&format!("control_port_admin_password = {admin}")));
}

/// Without `--control-port`, `init` leaves the keys commented out and `start` serves no
/// control port.
#[test]
fn init_without_control_port_leaves_it_off() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let r = run_binary(tmp.path(), &["init", "-y"], "");
    assert!(r.ok);
    let ini = std::fs::read_to_string(tmp.path().join("cfg/smp-server.ini")).expect("ini");
    for l in [
        "# control_port_admin_password =",
        "# control_port_user_password =",
        "# daily_block_queue_quota = 20",
        "# control_port = 5224",
    ] {
        assert!(ini.lines().any(|x| x == l), "{l} in\n{ini}");
    }
    let s = start_binary(tmp.path());
    assert!(
        !s.printed.iter().any(|l| l.contains("control port")),
        "{:?}",
        s.printed
    );
    drop(s);
    let fresh = tempfile::tempdir().expect("tempdir");
    let r = run_binary(fresh.path(), &["init", "-y", "--control-port"], "");
    assert!(r.ok, "{}", r.stderr);
    let ini = std::fs::read_to_string(fresh.path().join("cfg/smp-server.ini")).expect("ini");
    assert!(ini.lines().any(|l| l == "control_port = 5224"), "{ini}");
    let pw: Vec<&str> = ini
        .lines()
        .filter_map(|l| {
            l.strip_prefix("control_port_admin_password = ")
                .or_else(|| l.strip_prefix("control_port_user_password = "))
        })
        .collect();
    assert_eq!(pw.len(), 2);
    assert!(
        pw.iter().all(|p| p.len() == 24),
        "18 random bytes in base64url: {pw:?}"
    );
    assert_ne!(pw[0], pw[1]);
}

/// At the most verbose log level, the relay's output after a control session names the roles
/// and commands, never a password (right or wrong) or a queue ID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_has_no_password_or_queue_id() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (admin, user) = init_with_control(dir);
    let log_file = dir.join("stderr.txt");
    let mut child = Command::new(env!("CARGO_BIN_EXE_smp-server"))
        .args(["start", "--port", "0", "--listen", "127.0.0.1"])
        .env("SMP_SERVER_CFG_PATH", dir.join("cfg"))
        .env("SMP_SERVER_LOG_PATH", dir.join("log"))
        .env("RUST_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log_file).expect("stderr file"))
        .spawn()
        .expect("spawn smp-server");
    let mut printed = Vec::new();
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !printed
        .iter()
        .any(|l: &String| l.starts_with("Serving SMP protocol"))
    {
        line.clear();
        if reader.read_line(&mut line).expect("stdout") == 0 {
            break;
        }
        printed.push(line.trim_end().to_owned());
    }
    let port: u16 = printed
        .iter()
        .find_map(|l| l.strip_prefix("Serving SMP protocol on port "))
        .and_then(|r| r.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("SMP port");
    let fingerprint = printed
        .iter()
        .find_map(|l| l.strip_prefix("Fingerprint: "))
        .expect("fingerprint");
    let kh: smp_proto::KeyHash = fingerprint.parse().expect("fingerprint");
    let (c, _events) = connect(&smp_server::testing::local_address(&kh, port)).await;
    let q = new_queue(&c, ed_key(), SubscriptionMode::OnlyCreate).await;
    let sid = base64url_encode(&q.snd_id);
    let wrong = "Wr0ng-Passw0rd-7";

    let mut cp = Cp::open(control_addr(&printed)).await;
    assert_eq!(
        cp.one(&format!("auth {wrong}")).await,
        "Current role is CPRNone"
    );
    assert_eq!(
        cp.one(&format!("auth {admin}")).await,
        "Current role is CPRAdmin"
    );
    assert!(cp
        .one(&format!("status {sid}"))
        .await
        .starts_with("status: "));
    assert_eq!(
        cp.one(&format!("delete {sid}")).await,
        "ok, 0 messages deleted"
    );
    let mut cp2 = Cp::open(control_addr(&printed)).await;
    assert_eq!(
        cp2.one(&format!("auth {user}")).await,
        "Current role is CPRUser"
    );
    c.close().await;
    drop((cp, cp2));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    assert!(child.wait().expect("wait").success());

    let log = std::fs::read_to_string(&log_file).expect("log");
    for expected in [
        "control port: authentication failed",
        "control port: admin authenticated",
        "control port: user authenticated",
        "command=\"delete\"",
    ] {
        assert!(log.contains(expected), "{expected} in the log:\n{log}");
    }
    let unpadded = sid.trim_end_matches('=');
    for secret in [admin.as_str(), user.as_str(), wrong, unpadded] {
        assert!(
            !log.contains(secret),
            "the log shows a secret or a queue ID:\n{log}"
        );
    }
}

/// `block` and `unblock` as the reference's: the subscriber is told `ERR BLOCKED`, the sender
/// refused with it (this relay and its clients speak v14), the block survives a
/// restart (store log), `unblock` lets delivery resume, and the daily quota refuses the
/// next block. Long on purpose: one queue's story across a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_and_unblock_with_the_daily_quota() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (admin, user) = init_with_control(dir);
    let ini = dir.join("cfg/smp-server.ini");
    let text = std::fs::read_to_string(&ini).expect("ini");
    std::fs::write(
        &ini,
        text.replace(
            "# daily_block_queue_quota = 20",
            "daily_block_queue_quota = 2",
        ),
    )
    .expect("ini");
    let mut s = start_binary(dir);
    let addr = control_addr(&s.printed);
    let (c, mut events) = connect(&s.address()).await;
    let q = new_queue(&c, ed_key(), SubscriptionMode::Subscribe).await;
    let other = new_queue(&c, ed_key(), SubscriptionMode::OnlyCreate).await;
    let (sender, _sender_events) = connect(&s.address()).await;
    let sid = base64url_encode(&q.snd_id);
    let blocked = "EntityBlocked (BlockingInfo {reason = BRSpam, notice = Nothing})";
    // What the clients (v14 with this relay) are told.
    let err = ErrorType::Blocked(smp_proto::error::BlockingInfo {
        reason: smp_proto::error::BlockingReason::Spam,
        notice: None,
    });

    let mut cp = Cp::open(addr).await;
    assert_eq!(cp.one(&format!("block {sid} reason=spam")).await, "AUTH");
    assert_eq!(
        cp.one(&format!("auth {user}")).await,
        "Current role is CPRUser"
    );
    assert_eq!(
        cp.one(&format!("block {sid} reason=spam")).await,
        format!("ok, queue blocked: {blocked}")
    );
    let ev = next_event(&mut events).await;
    assert_eq!(ev.entity_id, q.rcv_id, "pushed for the blocked queue");
    assert_eq!(
        ev.response,
        Response::Err(err.clone()),
        "pushed ERR BLOCKED"
    );
    let sent = sender.send_message(None, &q.snd_id, QUIET, b"spam").await;
    assert!(
        matches!(&sent, Err(ClientError::Server(e)) if *e == err),
        "{sent:?}"
    );
    assert_eq!(
        cp.one(&format!("status {sid}"))
            .await
            .split(", updatedAt")
            .next(),
        Some(format!("status: {blocked}").as_str())
    );
    assert_eq!(
        cp.one(&format!("block {sid} reason=spam")).await,
        format!("ok, already inactive: {blocked}")
    );
    // The second queue takes the quota (2 a day); then no queue can be blocked today.
    let other_sid = base64url_encode(&other.snd_id);
    assert_eq!(
        cp.one(&format!(
            "block {other_sid} reason=content,notice={{\"ttl\":86400}}"
        ))
        .await,
        "ok, queue blocked: EntityBlocked (BlockingInfo {reason = BRContent, \
         notice = Just (ClientNotice {ttl = Just 86400})})"
    );
    assert_eq!(
        cp.one("block AAAA reason=spam").await,
        "error: reached limit of 2 queues blocked daily"
    );
    assert!(cp
        .one(&format!("block {sid} reason=junk"))
        .await
        .starts_with("error: "));
    assert_eq!(cp.one("unblock AAAA").await, "error: AUTH");
    let stats = cp.cmd("stats").await;
    assert!(
        stats.iter().any(|l| l.starts_with("qCreated: 2")),
        "{stats:?}"
    );

    // Blocked across a restart (the store log has BLOCK).
    c.close().await;
    sender.close().await;
    s.terminate();
    let log = std::fs::read_to_string(dir.join("log/smp-server-store.log")).expect("store log");
    assert!(
        log.lines()
            .any(|l| l.starts_with("BLOCK ") && l.ends_with(" reason=spam")),
        "{log}"
    );
    let s = start_binary(dir);
    let addr = control_addr(&s.printed);
    let (c, mut events) = connect(&s.address()).await;
    let (sender, _sender_events) = connect(&s.address()).await;
    let sub = c.subscribe(&q.rcv_key, &q.rcv_id).await;
    assert!(
        matches!(&sub, Err(ClientError::Server(e)) if *e == err),
        "SUB to a blocked queue: {sub:?}"
    );
    let mut cp = Cp::open(addr).await;
    assert_eq!(
        cp.one(&format!("auth {admin}")).await,
        "Current role is CPRAdmin"
    );
    assert_eq!(
        cp.one(&format!("unblock {sid}")).await,
        "ok, queue unblocked, reason to block was: BlockingInfo {reason = BRSpam, notice = Nothing}"
    );
    assert_eq!(
        cp.one(&format!("unblock {sid}")).await,
        "ok, queue was active"
    );
    // Delivery resumes.
    c.subscribe(&q.rcv_key, &q.rcv_id).await.expect("SUB");
    sender
        .send_message(None, &q.snd_id, QUIET, b"welcome back")
        .await
        .expect("SEND after unblock");
    let (_, m) = next_msg(&mut events, &q).await;
    match m {
        smp_proto::message::RcvMsgBody::Data { body, .. } => assert_eq!(body, b"welcome back"),
        other => panic!("expected the message, got {other:?}"),
    }
    let log = std::fs::read_to_string(dir.join("log/smp-server-store.log")).expect("store log");
    assert!(log.lines().any(|l| l.starts_with("UNBLOCK ")), "{log}");
    c.close().await;
    sender.close().await;
}

/// In process (`TestServer::start_with_control`, the relay offering v6–v14): a v11
/// subscriber is pushed the block as `ERR AUTH` (no `BLOCKED` below v12), a v14 sender is
/// refused with `ERR BLOCKED` without the notice (below v18); after `unblock` the same
/// subscription receives again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_is_told_by_client_version_and_unblock_resumes_delivery() {
    use smp_proto::error::{BlockingInfo, BlockingReason};
    use smp_proto::version::{Version, VersionRange};

    let v6_to_14 = VersionRange::new(Version(6), Version(14)).expect("range");
    let control = smp_server::control::ControlConfig {
        admin_password: Some("adm1n-pw".into()),
        user_password: Some("us3r-pw".into()),
        daily_block_quota: 20,
    };
    let (server, cp_addr) = smp_server::testing::TestServer::start_with_control(
        smp_server::msg_store::DEFAULT_QUOTA,
        v6_to_14,
        control,
    )
    .await
    .expect("relay");
    let address = server.address().clone();
    let connect_with = |versions: VersionRange| {
        let address = address.clone();
        async move {
            let mut config = smp_client::ClientConfig {
                ping_interval: std::time::Duration::ZERO,
                ..smp_client::ClientConfig::default()
            };
            config.transport.versions = versions;
            smp_client::SmpClient::connect(&address, config)
                .await
                .expect("connect")
        }
    };
    let v6_to_11 = VersionRange::new(Version(6), Version(11)).expect("range");
    let (c, mut events) = connect_with(v6_to_11).await;
    let (sender, _sender_events) = connect_with(v6_to_14).await;
    let q = new_queue(&c, ed_key(), SubscriptionMode::Subscribe).await;
    let sid = base64url_encode(&q.snd_id);

    let mut cp = Cp::open(cp_addr).await;
    assert_eq!(cp.one("auth us3r-pw").await, "Current role is CPRUser");
    assert_eq!(
        cp.one(&format!(
            "block {sid} reason=content,notice={{\"ttl\":3600}}"
        ))
        .await,
        "ok, queue blocked: EntityBlocked (BlockingInfo {reason = BRContent, \
         notice = Just (ClientNotice {ttl = Just 3600})})"
    );
    let blocked = ErrorType::Blocked(BlockingInfo {
        reason: BlockingReason::Content,
        notice: None,
    });
    let ev = next_event(&mut events).await;
    assert_eq!(ev.entity_id, q.rcv_id);
    assert_eq!(
        ev.response,
        Response::Err(ErrorType::Auth),
        "v11 subscriber"
    );
    let sent = sender.send_message(None, &q.snd_id, QUIET, b"spam").await;
    assert!(
        matches!(&sent, Err(ClientError::Server(e)) if *e == blocked),
        "{sent:?}"
    );
    assert_eq!(
        cp.one(&format!("unblock {sid}")).await,
        "ok, queue unblocked, reason to block was: BlockingInfo {reason = BRContent, \
         notice = Just (ClientNotice {ttl = Just 3600})}"
    );
    sender
        .send_message(None, &q.snd_id, QUIET, b"back")
        .await
        .expect("SEND after unblock");
    let (_, m) = next_msg(&mut events, &q).await;
    match m {
        smp_proto::message::RcvMsgBody::Data { body, .. } => assert_eq!(body, b"back"),
        other => panic!("expected the message, got {other:?}"),
    }
    c.close().await;
    sender.close().await;
    server.stop().await.expect("stop");
}
