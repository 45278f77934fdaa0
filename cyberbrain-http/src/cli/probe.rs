//! Network probes for `cyberbrain doctor`: a TCP connect and a minimal HTTP/1.1 GET, each bounded
//! by a timeout. Hand-rolled because the doctor only needs a status line, not an HTTP client.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Connects to the first address that accepts, within `timeout` overall.
pub(crate) async fn connect(
    addresses: &[SocketAddr],
    timeout: Duration,
) -> Result<TcpStream, String> {
    let attempt = async {
        let mut last_error = "no addresses to try".to_string();
        for address in addresses {
            match TcpStream::connect(address).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last_error = format!("{address}: {e}"),
            }
        }
        Err(last_error)
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs())))
}

/// Sends `GET path` with the given `Host` header and returns the response's status code.
pub(crate) async fn http_get_status(
    addresses: &[SocketAddr],
    host_header: &str,
    path: &str,
    timeout: Duration,
) -> Result<u16, String> {
    let exchange = async {
        let mut stream = connect(addresses, timeout).await?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nAccept: application/json\r\n\
             User-Agent: cyberbrain-doctor\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("sending the request: {e}"))?;
        // The status line fits in the first read of any real server; 1 KiB is plenty.
        let mut head = vec![0u8; 1024];
        let mut filled = 0;
        while filled < head.len() && !head[..filled].contains(&b'\n') {
            let read = stream
                .read(&mut head[filled..])
                .await
                .map_err(|e| format!("reading the response: {e}"))?;
            if read == 0 {
                break;
            }
            filled += read;
        }
        parse_status_line(&head[..filled])
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", timeout.as_secs())))
}

/// `HTTP/1.1 200 OK` → 200.
fn parse_status_line(head: &[u8]) -> Result<u16, String> {
    let line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split_whitespace();
    match (
        parts.next(),
        parts.next().and_then(|code| code.parse::<u16>().ok()),
    ) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") => Ok(code),
        _ if line.trim().is_empty() => Err("the connection closed without a response".to_string()),
        _ => Err(format!("not an HTTP response: {:?}", line.trim())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status_line(b"HTTP/1.1 200 OK\r\nContent-Type: x\r\n"),
            Ok(200)
        );
        assert_eq!(parse_status_line(b"HTTP/1.0 404 Not Found\r\n"), Ok(404));
        assert!(parse_status_line(b"").unwrap_err().contains("closed"));
        assert!(
            parse_status_line(b"SSH-2.0-OpenSSH\r\n")
                .unwrap_err()
                .contains("not an HTTP")
        );
    }

    #[tokio::test]
    async fn talks_to_a_real_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 512];
            let read = socket.read(&mut buffer).await.unwrap();
            let request = String::from_utf8_lossy(&buffer[..read]).to_string();
            socket
                .write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
                .await
                .unwrap();
            request
        });
        let status = http_get_status(
            &[address],
            "127.0.0.1",
            "/v1/models",
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(status, Ok(204));
        let request = server.await.unwrap();
        assert!(
            request.starts_with("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n"),
            "{request}"
        );

        // A port nothing listens on: refused quickly, with the address in the message.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_address = closed.local_addr().unwrap();
        drop(closed);
        let error = connect(&[closed_address], Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(error.contains(&closed_address.to_string()), "{error}");
    }
}
