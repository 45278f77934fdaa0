//! Template mining: the variable parts of a message are masked so that lines that differ only in
//! a timestamp, an id or an address collapse into one template.
//!
//! | what | example | becomes |
//! |---|---|---|
//! | ISO/RFC 3339, nginx, access-log, syslog and bare times | `2024-05-01T12:00:00.5Z`, `May  1 12:00:00`, `12:00:00` | `<ts>` |
//! | klog headers (the level letter stays) | `E0501 12:00:00.123456` | `E<ts>` |
//! | UUIDs | `9f1c2d3e-4b5a-6789-abcd-ef0123456789` | `<uuid>` |
//! | URLs | `http://172.18.0.5:8080/api` | `<url>` |
//! | e-mail addresses | `alice@example.com` | `<email>` |
//! | MAC addresses | `00:1a:2b:3c:4d:5e` | `<mac>` |
//! | IPv6 and IPv4 addresses | `fe80::1%eth0`, `10.0.0.7` | `<ip>` |
//! | absolute and relative paths, Windows and UNC paths | `/var/log/x.log`, `./run.sh`, `C:\x`, `\\srv\share` | `<path>` |
//! | `0x` hex and hex runs of 8+ characters with a digit | `0x7ffd`, `a1b2c3d4e5f6` | `<hex>` |
//! | long mixed letter/digit tokens (10+ characters, 3+ digits) | `req8f3Kz9Qx2` | `<id>` |
//! | durations | `12ms`, `1.5s`, `1h2m3s` | `<dur>` |
//! | numbers not glued to a preceding letter or dot | `42`, `3.14`, `worker-7`, `HTTP/1.1` | `<num>` |
//! | values of `key=value` pairs, except descriptive keys | `user=alice`, `id=<num>` | `user=<*>` |
//!
//! Deliberate choices:
//! - Numbers glued to a preceding letter stay (`v1.2.3`, `sha256`, `x86_64` keeps its `x86`):
//!   they name things rather than count them.
//! - The status code of an access-log line is kept (`"GET <path> HTTP/<num>" 502 <num>`): a 502 and
//!   a 200 are different events.
//! - `key=value` values stay for descriptive keys (`level`, `msg`, `error`, `method`, `status`,
//!   `reason`, …, see [`KEPT_KEYS`]); other values become `<*>`.
//! - Quoted strings are not masked as a whole: `KeyError: 'user_id'` names the missing key.
//! - Whitespace runs collapse to one space; the template is trimmed.
//!
//! [`template_id`] is the first 12 hex characters of the SHA-256 of the template text: the same
//! template has the same id in every run and on every machine, so reports can be compared.

use std::borrow::Cow;
use std::net::Ipv6Addr;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use sha2::{Digest, Sha256};

/// Keys whose `key=value` values describe the event rather than vary with it.
pub const KEPT_KEYS: &[&str] = &[
    "level",
    "lvl",
    "severity",
    "msg",
    "message",
    "err",
    "error",
    "event",
    "logger",
    "component",
    "module",
    "caller",
    "func",
    "function",
    "method",
    "op",
    "operation",
    "action",
    "reason",
    "status",
    "code",
    "type",
    "kind",
    "state",
    "phase",
    "unit",
    "service",
    "job",
    "task",
];

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).expect("template pattern compiles")
}

static WHITESPACE: LazyLock<Regex> = LazyLock::new(|| regex(r"\s+"));

static KLOG: LazyLock<Regex> =
    LazyLock::new(|| regex(r"(?P<pre>^|\s)(?P<level>[IWEF])\d{4} \d{2}:\d{2}:\d{2}(?:\.\d+)?"));

static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    regex(concat!(
        r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?: ?(?:Z|[+-]\d{2}:?\d{2}|UTC)\b)?",
        r"|\b\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:[.,]\d+)?",
        r"|\b\d{1,2}/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?",
        r"|\b(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? )?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d{1,2},? (?:\d{4} )?\d{2}:\d{2}:\d{2}(?:\.\d+)?(?: \d{4}\b)?",
        r"|\b\d{4}-\d{2}-\d{2}\b",
        r"|\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b",
    ))
});

static UUID: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
});

static URL: LazyLock<Regex> =
    LazyLock::new(|| regex(r#"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>()\[\]{}]+"#));

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
});

static MAC: LazyLock<Regex> =
    LazyLock::new(|| regex(r"\b[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}\b"));

/// IPv6 candidates; each is checked with the standard parser before it is masked.
static IPV6: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r"(?P<pre>^|[^\w:.])(?P<ip>(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f.]{0,15})(?P<zone>%[\w.]+)?",
    )
});

static IPV4: LazyLock<Regex> = LazyLock::new(|| regex(r"\b(?:\d{1,3}\.){3}\d{1,3}\b"));

static WINDOWS_PATH: LazyLock<Regex> =
    LazyLock::new(|| regex(r#"\b[A-Za-z]:\\[^\s"'<>|]*|\\\\[A-Za-z0-9._$-]+\\[^\s"'<>|]*"#));

static UNIX_PATH: LazyLock<Regex> = LazyLock::new(|| {
    regex(r#"(?P<pre>^|[\s=:"'(\[,])(?P<path>(?:~|\.{1,2})?/[^\s"'<>()\[\]{},;:]+)"#)
});

static HEX: LazyLock<Regex> = LazyLock::new(|| regex(r"\b0[xX][0-9a-fA-F]+\b|\b[0-9a-fA-F]{8,}\b"));

static MIXED_ID: LazyLock<Regex> = LazyLock::new(|| regex(r"\b[A-Za-z0-9]{10,}\b"));

static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    regex(r"(?P<pre>^|[^\w.])(?P<dur>(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h|d))+)\b")
});

static NUMBER: LazyLock<Regex> = LazyLock::new(|| regex(r"(?P<pre>^|[^A-Za-z0-9.])\d+(?:\.\d+)*"));

static KEY_VALUE: LazyLock<Regex> = LazyLock::new(|| {
    regex(r#"(?P<key>\b[A-Za-z_][\w.-]*)=(?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;&"')\]}]+)"#)
});

/// `… "GET /x HTTP/1.1" 502 157 …`: split so that the status survives number masking.
static ACCESS_LINE: LazyLock<Regex> = LazyLock::new(|| {
    regex(
        r#"^(?P<head>.*?"(?:[A-Z]+ \S+(?: HTTP/[\d.]+)?|-)" )(?P<status>[1-5]\d\d)(?P<tail> (?:\d+|-).*)$"#,
    )
});

static REPLACEMENT_RUN: LazyLock<Regex> = LazyLock::new(|| regex("\u{FFFD}+"));

/// Masks the variable parts of `message` (see the module documentation) and returns the template.
pub fn mask(message: &str) -> String {
    let collapsed = WHITESPACE.replace_all(message.trim(), " ");
    if let Some(caps) = ACCESS_LINE.captures(&collapsed) {
        return format!(
            "{}{}{}",
            mask_inner(&caps["head"]),
            &caps["status"],
            mask_inner(&caps["tail"])
        );
    }
    mask_inner(&collapsed)
}

/// The stable id of a template: the first 12 hex characters of the SHA-256 of its text.
pub fn template_id(template: &str) -> String {
    let digest = Sha256::digest(template.as_bytes());
    hex::encode(&digest[..6])
}

/// One masking pass: returns the input unchanged (borrowed) when nothing matched.
type Pass = fn(&str) -> Cow<'_, str>;

const PASSES: &[Pass] = &[
    |s| REPLACEMENT_RUN.replace_all(s, "\u{FFFD}"),
    // Before timestamps: `00:11:22:33:44:55` would otherwise start with a time.
    |s| MAC.replace_all(s, "<mac>"),
    |s| KLOG.replace_all(s, "$pre$level<ts>"),
    |s| TIMESTAMP.replace_all(s, "<ts>"),
    |s| UUID.replace_all(s, "<uuid>"),
    |s| URL.replace_all(s, "<url>"),
    |s| EMAIL.replace_all(s, "<email>"),
    ipv6,
    |s| IPV4.replace_all(s, "<ip>"),
    |s| WINDOWS_PATH.replace_all(s, "<path>"),
    |s| UNIX_PATH.replace_all(s, "$pre<path>"),
    hex,
    mixed_ids,
    |s| DURATION.replace_all(s, "$pre<dur>"),
    |s| NUMBER.replace_all(s, "$pre<num>"),
    key_values,
];

fn mask_inner(text: &str) -> String {
    let mut current = Cow::Borrowed(text);
    for pass in PASSES {
        if let Cow::Owned(changed) = pass(&current) {
            current = Cow::Owned(changed);
        }
    }
    current.into_owned()
}

fn ipv6(text: &str) -> Cow<'_, str> {
    IPV6.replace_all(text, |caps: &Captures<'_>| {
        let candidate = caps["ip"].trim_end_matches('.');
        let is_address =
            candidate.parse::<Ipv6Addr>().is_ok() && candidate.bytes().any(|b| b.is_ascii_digit());
        if is_address {
            // Keep what the candidate pattern swallowed beyond the address (a trailing dot).
            let rest = &caps["ip"][candidate.len()..];
            format!("{}<ip>{rest}", &caps["pre"])
        } else {
            caps[0].to_owned()
        }
    })
}

fn hex(text: &str) -> Cow<'_, str> {
    HEX.replace_all(text, |caps: &Captures<'_>| {
        let run = &caps[0];
        let is_prefixed = run.starts_with("0x") || run.starts_with("0X");
        let has_digit = run.bytes().any(|b| b.is_ascii_digit());
        let all_digits = run.bytes().all(|b| b.is_ascii_digit());
        if is_prefixed || (has_digit && !all_digits) {
            "<hex>".to_owned()
        } else {
            // All digits: a number, masked later; no digit: a word such as `deadbeef` or `acceded`.
            run.to_owned()
        }
    })
}

fn mixed_ids(text: &str) -> Cow<'_, str> {
    MIXED_ID.replace_all(text, |caps: &Captures<'_>| {
        let token = &caps[0];
        let digits = token.bytes().filter(u8::is_ascii_digit).count();
        let letters = token.bytes().filter(u8::is_ascii_alphabetic).count();
        if digits >= 3 && letters >= 1 {
            "<id>".to_owned()
        } else {
            token.to_owned()
        }
    })
}

fn key_values(text: &str) -> Cow<'_, str> {
    KEY_VALUE.replace_all(text, |caps: &Captures<'_>| {
        let key = &caps["key"];
        let value = &caps["value"];
        let is_kept = KEPT_KEYS.iter().any(|kept| kept.eq_ignore_ascii_case(key));
        let is_mask_token = value.starts_with('<') && value.ends_with('>') && !value.contains(' ');
        if is_kept || is_mask_token {
            caps[0].to_owned()
        } else {
            format!("{key}=<*>")
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_table() {
        let cases: &[(&str, &str)] = &[
            // Timestamps.
            (
                "2024-05-01T12:00:00.123456789Z stdout F hello",
                "<ts> stdout F hello",
            ),
            (
                "2024-05-01 12:00:01,517 ERROR [worker] x",
                "<ts> ERROR [worker] x",
            ),
            ("2024-05-01T14:00:00+02:00 x", "<ts> x"),
            ("2024/05/01 12:00:03 [error] x", "<ts> [error] x"),
            ("[01/May/2024:12:00:03 +0000] x", "[<ts>] x"),
            (
                "May  1 12:00:00 host sshd[99]: x",
                "<ts> host sshd[<num>]: x",
            ),
            ("Wed May 01 12:00:00 2024 x", "<ts> x"),
            ("at 12:00:00.5 and on 2024-05-01", "at <ts> and on <ts>"),
            (
                "E0501 12:00:00.123456 1 reflector.go:138] failed",
                "E<ts> <num> reflector.go:<num>] failed",
            ),
            // Identifiers and addresses.
            (
                "request 9f1c2d3e-4b5a-6789-abcd-ef0123456789 done",
                "request <uuid> done",
            ),
            (
                "upstream: \"http://172.18.0.5:8080/api/orders\"",
                "upstream: \"<url>\"",
            ),
            (
                "mail to alice.b+ops@example.co.uk bounced",
                "mail to <email> bounced",
            ),
            (
                "from 10.0.0.7:51234 to 192.168.1.1",
                "from <ip>:<num> to <ip>",
            ),
            ("listening on [::1]:8080", "listening on [<ip>]:<num>"),
            ("peer fe80::1%eth0 down", "peer <ip> down"),
            ("peer 2001:db8::8a2e:370:7334.", "peer <ip>."),
            ("mapped ::ffff:10.0.0.1 ok", "mapped <ip> ok"),
            ("link 00:1a:2b:3c:4d:5e up", "link <mac> up"),
            ("link 00:11:22:33:44:55 up", "link <mac> up"),
            (
                "use std::net::IpAddr and dead::beef",
                "use std::net::IpAddr and dead::beef",
            ),
            // Paths.
            (
                "open() \"/usr/share/nginx/html/index.html\" failed",
                "open() \"<path>\" failed",
            ),
            (
                "File \"/app/worker.py\", line 88, in run",
                "File \"<path>\", line <num>, in run",
            ),
            ("path=/var/lib/app/data.db", "path=<path>"),
            ("running ./scripts/start.sh now", "running <path> now"),
            ("copy C:\\Users\\carol\\x.txt", "copy <path>"),
            ("share \\\\nas\\backups\\x", "share <path>"),
            ("GET / HTTP/1.1", "GET / HTTP/<num>"),
            ("src/main.rs:10:5", "src/main.rs:<num>:<num>"),
            ("see /home/alice/.config/app:", "see <path>:"),
            // Hex, ids, durations, numbers.
            (
                "segfault at 0x7ffd1234 ip 00007f3a",
                "segfault at <hex> ip <hex>",
            ),
            ("container a1b2c3d4e5f6 exited", "container <hex> exited"),
            (
                "pod web-5d8f7c9b6-x2x7k restarted",
                "pod web-<hex>-x2x7k restarted",
            ),
            ("deadbeef acceded", "deadbeef acceded"),
            ("token req8f3Kz9Qx2 used", "token <id> used"),
            (
                "took 12ms, then 1.5s and 1h2m3s",
                "took <dur>, then <dur> and <dur>",
            ),
            (
                "retry 3 of 10 in 2.5 seconds",
                "retry <num> of <num> in <num> seconds",
            ),
            ("worker-7 on port 8080", "worker-<num> on port <num>"),
            (
                "version v1.2.3 sha256 x86_64 ipv6",
                "version v1.2.3 sha256 x86_<num> ipv6",
            ),
            ("31#31: *1234 connect()", "<num>#<num>: *<num> connect()"),
            ("-5 degrees", "-<num> degrees"),
            ("1714564800", "<num>"),
            // key=value.
            (
                "level=error msg=\"query failed\" user=alice id=42 dur=3ms",
                "level=error msg=\"query failed\" user=<*> id=<num> dur=<dur>",
            ),
            (
                "method=GET status=502 host=db1",
                "method=GET status=<num> host=<*>",
            ),
            ("a=b=c", "a=<*>"),
            // Whitespace and replacement characters.
            ("  too   many\tspaces  ", "too many spaces"),
            ("bin \u{FFFD}\u{FFFD}\u{FFFD} data", "bin \u{FFFD} data"),
            ("", ""),
        ];
        for (input, expected) in cases {
            assert_eq!(mask(input), *expected, "mask({input:?})");
        }
    }

    #[test]
    fn access_lines_keep_their_status() {
        let line = r#"10.0.0.7 - - [01/May/2024:12:00:03 +0000] "POST /api/orders/17 HTTP/1.1" 502 157 "-" "curl/8.5.0""#;
        assert_eq!(
            mask(line),
            r#"<ip> - - [<ts>] "POST <path> HTTP/<num>" 502 <num> "-" "curl/<num>""#
        );
        let ok = r#"10.0.0.8 - - [01/May/2024:12:00:09 +0000] "POST /api/orders/18 HTTP/1.1" 200 99 "-" "curl/8.5.0""#;
        assert_ne!(mask(line), mask(ok));
    }

    #[test]
    fn similar_lines_collapse() {
        let a = mask("2024-05-01 12:00:01,517 ERROR [worker] Job 1234 failed after 3 retries");
        let b = mask("2024-05-02 08:30:00,001 ERROR [worker] Job 99 failed after 12 retries");
        assert_eq!(a, b);
        assert_eq!(template_id(&a), template_id(&b));
    }

    #[test]
    fn masking_is_stable() {
        for input in [
            "2024-05-01T12:00:00Z user=alice from 10.0.0.1 took 5ms at /var/x",
            "E0501 12:00:00.1 1 x.go:1] <ip> <num> <path>",
        ] {
            let once = mask(input);
            assert_eq!(mask(&once), once, "{input:?}");
        }
    }

    #[test]
    fn template_ids_are_sha256_prefixes() {
        // sha256("") = e3b0c44298fc1c149afbf4c8996fb924…
        assert_eq!(template_id(""), "e3b0c44298fc");
        assert_eq!(template_id("x").len(), 12);
        assert_ne!(template_id("a"), template_id("b"));
    }
}
