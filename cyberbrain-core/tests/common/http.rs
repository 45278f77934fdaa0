//! A scripted OpenAI-compatible HTTP/1.1 server on loopback, for the failure paths a real LLM
//! server cannot produce on demand (429, 500, a body without `usage`, invalid JSON, a stall).
//! The n-th request gets the n-th scripted reply (the last one repeats); every request (head
//! and body) is kept so tests can check what the model was sent.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does after reading a request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Writes these bytes and closes the connection.
    Raw(Vec<u8>),
    /// Never answers (the client's timeout fires).
    Silence,
    /// Sends the status line and headers promising a body, then stalls.
    StallBody,
}

/// One request as the server received it.
#[derive(Clone, Debug)]
pub struct Captured {
    /// The request line and headers.
    pub head: String,
    pub body: Vec<u8>,
}

impl Captured {
    /// The value of header `name` (case-insensitive), if sent.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the client sends JSON")
    }
}

/// The running server; stops when dropped.
pub struct ScriptedServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Captured>>>,
    connections: Arc<AtomicUsize>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl ScriptedServer {
    pub async fn start(script: Vec<Reply>) -> ScriptedServer {
        assert!(!script.is_empty(), "a script needs at least one reply");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let next = Arc::new(AtomicUsize::new(0));
        let script = Arc::new(script);
        let (seen, connected) = (requests.clone(), connections.clone());
        let accept_task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                connected.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, script.clone(), next.clone(), seen.clone()));
            }
        });
        ScriptedServer {
            addr,
            requests,
            connections,
            accept_task,
        }
    }

    /// A server that gives every request the same reply.
    pub async fn answering(reply: Reply) -> ScriptedServer {
        ScriptedServer::start(vec![reply]).await
    }

    /// The base URL to configure as `llm.endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The requests received, in order.
    pub fn requests(&self) -> Vec<Captured> {
        self.requests.lock().expect("lock").clone()
    }

    /// The request bodies received, in order.
    pub fn bodies(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect()
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut stream: TcpStream,
    script: Arc<Vec<Reply>>,
    next: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Captured>>>,
) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let length = head
        .lines()
        .find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    requests.lock().expect("lock").push(Captured {
        head,
        body: buffer[head_end..head_end + length].to_vec(),
    });
    let index = next.fetch_add(1, Ordering::SeqCst).min(script.len() - 1);
    match &script[index] {
        Reply::Raw(bytes) => {
            let _ = stream.write_all(bytes).await;
            let _ = stream.shutdown().await;
        }
        Reply::Silence => tokio::time::sleep(Duration::from_secs(120)).await,
        Reply::StallBody => {
            let _ = stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n{\"choices\":",
                )
                .await;
            tokio::time::sleep(Duration::from_secs(120)).await;
        }
    }
}

/// An HTTP response with a body.
pub fn http(status: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut text = format!("HTTP/1.1 {status}\r\n");
    for (name, value) in headers {
        let _ = write!(text, "{name}: {value}\r\n");
    }
    let _ = write!(
        text,
        "content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    Reply::Raw(text.into_bytes())
}

/// A `200 OK` JSON response.
pub fn json_reply(body: &Value) -> Reply {
    http(
        "200 OK",
        &[("content-type", "application/json")],
        &body.to_string(),
    )
}

/// A chat completion answering `content`, with `usage` as `(prompt, completion)` or none.
pub fn completion(content: &str, usage: Option<(i64, i64)>) -> Reply {
    let mut body = json!({
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 1,
        "model": "scripted-model",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content},
            "finish_reason": "stop"
        }]
    });
    if let Some((prompt, completion)) = usage {
        body["usage"] = json!({
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        });
    }
    json_reply(&body)
}

/// A findings answer with one finding.
pub fn findings(severity: &str, title: &str, explanation: &str) -> String {
    json!({"findings": [{
        "severity": severity,
        "title": title,
        "explanation": explanation,
        "recommendation": "Look at it.",
        "template_ids": [],
    }]})
    .to_string()
}

/// The JSON body of a recorded request.
pub fn request_json(body: &str) -> Value {
    serde_json::from_str(body).expect("the client sends JSON")
}

/// A loopback address nothing listens on: a port bound and released again.
pub fn refused_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// [`refused_addr`] as an `llm.endpoint`.
pub fn refused_endpoint() -> String {
    format!("http://{}/v1", refused_addr())
}

/// The real LLM server's endpoint (`scripts/llm.sh up`); never skipped: without one the test
/// fails and says how to start it.
pub fn real_llm_endpoint() -> String {
    std::env::var("CYBERBRAIN_TEST_LLM_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "CYBERBRAIN_TEST_LLM_ENDPOINT is not set. Start the local LLM server with \
             `scripts/llm.sh up` and export the LLM_ENDPOINT it prints as \
             CYBERBRAIN_TEST_LLM_ENDPOINT (this test needs a real server and never skips)"
        )
    })
}
