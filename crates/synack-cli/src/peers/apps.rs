//! The applications `synack serve` runs on synack's blocking sockets, one thread per
//! connection: echo (RFC 862), discard (RFC 863), chargen (RFC 864) and a small HTTP/1.1
//! server (RFC 9112) with GET, HEAD, Content-Length and keep-alive.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use synack::net::TcpStream;

/// Which application to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum App {
    Echo,
    Discard,
    Chargen,
    Http { root: Option<PathBuf> },
}

impl App {
    /// The well-known ports the application listens on when none is given.
    pub fn default_ports(&self) -> &'static [u16] {
        match self {
            App::Echo => &[7],
            App::Discard => &[9],
            App::Chargen => &[19],
            App::Http { .. } => &[80, 8080],
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            App::Echo => "echo",
            App::Discard => "discard",
            App::Chargen => "chargen",
            App::Http { .. } => "http",
        }
    }

    /// Serves one connection until the peer is done or the connection fails.
    pub fn serve(&self, stream: &TcpStream) -> io::Result<()> {
        match self {
            App::Echo => echo(stream),
            App::Discard => discard(stream),
            App::Chargen => chargen(stream),
            App::Http { root } => http(stream, root.as_deref()),
        }
    }
}

/// RFC 862: everything back; the peer's FIN answered with ours once all is echoed.
fn echo(mut stream: &TcpStream) -> io::Result<()> {
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return stream.shutdown(std::net::Shutdown::Write);
        }
        stream.write_all(&buf[..n])?;
    }
}

/// RFC 863: read and throw away until the peer closes.
fn discard(mut stream: &TcpStream) -> io::Result<()> {
    let mut buf = vec![0; 64 * 1024];
    while stream.read(&mut buf)? > 0 {}
    Ok(())
}

/// RFC 864's rotating pattern: line `n` holds 72 printable characters starting `n` places on.
pub fn chargen_line(n: usize, out: &mut Vec<u8>) {
    const FIRST: u8 = b' ';
    const COUNT: usize = 95;
    for i in 0..72 {
        out.push(FIRST + ((n + i) % COUNT) as u8);
    }
    out.extend_from_slice(b"\r\n");
}

/// RFC 864: lines until the peer closes (our writes then fail).
fn chargen(mut stream: &TcpStream) -> io::Result<()> {
    let mut n = 0;
    let mut block = Vec::with_capacity(74 * 95);
    loop {
        block.clear();
        for _ in 0..95 {
            chargen_line(n, &mut block);
            n += 1;
        }
        stream.write_all(&block)?;
    }
}

/// The generated body of `/bytes/N`: byte `i` is `i % 251` (251 is prime, so the pattern
/// does not line up with any power-of-two buffer and a misplaced block shows).
pub fn pattern_byte(i: u64) -> u8 {
    (i % 251) as u8
}

/// Requests larger than this are refused: nobody's GET needs more header.
const MAX_HEAD: usize = 16 * 1024;
/// The largest generated body: 4 GiB.
const MAX_GENERATED: u64 = 1 << 32;

struct Request {
    method: String,
    target: String,
    keep_alive: bool,
}

/// Reads one request head; `None` when the peer closed between requests.
fn read_request(reader: &mut BufReader<&TcpStream>) -> io::Result<Option<Request>> {
    let mut line = String::new();
    let mut total = 0;
    // RFC 9112 §2.2: empty lines before the request line are ignored.
    loop {
        line.clear();
        let n = reader.by_ref().take(MAX_HEAD as u64).read_line(&mut line)?;
        if n == 0 {
            return Ok(None);
        }
        total += n;
        if !line.trim().is_empty() {
            break;
        }
        if total > MAX_HEAD {
            return Err(bad("request head too long"));
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    let mut keep_alive = version == "HTTP/1.1";
    let (method, target) = (method.to_string(), target.to_string());
    loop {
        line.clear();
        let n = reader.by_ref().take(MAX_HEAD as u64).read_line(&mut line)?;
        total += n;
        if n == 0 || total > MAX_HEAD {
            return Err(bad("request head cut short or too long"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((name, value)) = l.split_once(':') {
            if name.trim().eq_ignore_ascii_case("connection") {
                let v = value.trim().to_ascii_lowercase();
                if v.contains("close") {
                    keep_alive = false;
                } else if v.contains("keep-alive") {
                    keep_alive = true;
                }
            }
        }
    }
    Ok(Some(Request {
        method,
        target,
        keep_alive,
    }))
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

enum Body {
    Text(Vec<u8>),
    Generated(u64),
    File(std::fs::File, u64),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Text(t) => t.len() as u64,
            Body::Generated(n) | Body::File(_, n) => *n,
        }
    }
}

/// What a target names: under `root` a file; without, `/bytes/N` or the index.
fn resolve(target: &str, root: Option<&Path>) -> (u16, &'static str, Body) {
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let not_found = || (404, "Not Found", Body::Text(b"not found\n".to_vec()));
    if let Some(root) = root {
        let rel = Path::new(path.trim_start_matches('/'));
        // Only plain names: no `..`, so nothing outside the root is served.
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return not_found();
        }
        let mut full = root.join(rel);
        if full.is_dir() {
            full = full.join("index.html");
        }
        return match std::fs::File::open(&full).and_then(|f| {
            let len = f.metadata()?.len();
            Ok((f, len))
        }) {
            Ok((f, len)) if full.is_file() => (200, "OK", Body::File(f, len)),
            _ => not_found(),
        };
    }
    if path == "/" {
        let text = "synack serves HTTP from userspace.\n\
                    GET /bytes/N for N bytes of the pattern i % 251.\n";
        return (200, "OK", Body::Text(text.as_bytes().to_vec()));
    }
    match path.strip_prefix("/bytes/").map(str::parse::<u64>) {
        Some(Ok(n)) if n <= MAX_GENERATED => (200, "OK", Body::Generated(n)),
        _ => not_found(),
    }
}

fn http(stream: &TcpStream, root: Option<&Path>) -> io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut out = stream;
    loop {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let _ = out.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let head_only = req.method == "HEAD";
        let (status, reason, body) = if req.method == "GET" || head_only {
            resolve(&req.target, root)
        } else {
            (
                405,
                "Method Not Allowed",
                Body::Text(b"GET and HEAD only\n".to_vec()),
            )
        };
        // A request we do not serve may carry a body we do not parse: close after the
        // answer rather than read that body as the next request.
        let keep_alive = req.keep_alive && (req.method == "GET" || head_only);
        let connection = if keep_alive { "keep-alive" } else { "close" };
        let head = format!(
            "HTTP/1.1 {status} {reason}\r\nServer: synack\r\nContent-Length: {}\r\n\
             Content-Type: application/octet-stream\r\nConnection: {connection}\r\n\r\n",
            body.len()
        );
        out.write_all(head.as_bytes())?;
        if !head_only {
            send_body(&mut out, body)?;
        }
        if !keep_alive {
            return Ok(());
        }
    }
}

fn send_body(out: &mut &TcpStream, body: Body) -> io::Result<()> {
    match body {
        Body::Text(t) => out.write_all(&t),
        Body::File(mut f, _) => io::copy(&mut f, out).map(drop),
        Body::Generated(n) => {
            let mut buf = vec![0u8; 64 * 1024];
            let mut at = 0u64;
            while at < n {
                let len = (n - at).min(buf.len() as u64) as usize;
                for (i, b) in buf[..len].iter_mut().enumerate() {
                    *b = pattern_byte(at + i as u64);
                }
                out.write_all(&buf[..len])?;
                at += len as u64;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chargen_lines_rotate_through_the_printable_characters() {
        let mut a = Vec::new();
        chargen_line(0, &mut a);
        assert_eq!(a.len(), 74);
        assert!(a.starts_with(b" !\"#$%&"));
        let mut b = Vec::new();
        chargen_line(1, &mut b);
        assert_eq!(&b[..71], &a[1..72]);
    }

    #[test]
    fn targets_outside_the_root_are_not_found() {
        let dir = std::env::temp_dir();
        assert_eq!(resolve("/../etc/passwd", Some(&dir)).0, 404);
        assert_eq!(resolve("/bytes/10", None).0, 200);
        assert_eq!(resolve("/bytes/x", None).0, 404);
        assert_eq!(resolve("/bytes/99999999999999", None).0, 404);
    }
}
