//! A tiny CONNECT proxy on 127.0.0.1 for the tests: it reads the CONNECT
//! request, checks `Proxy-Authorization` when told to, answers 200 and
//! copies bytes both ways to one upstream address, whatever host the
//! client named (the proxy "resolves" every name to it, so a test can use
//! a named endpoint that no DNS knows).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The most a CONNECT request's head may take.
const MAX_HEAD: usize = 8 * 1024;

/// What the proxy saw.
#[derive(Default)]
pub(crate) struct Seen {
    /// Tunnels opened (after a 200).
    pub(crate) tunnels: AtomicUsize,
    /// The `host:port` of every CONNECT, refused ones too.
    pub(crate) targets: Mutex<Vec<String>>,
    /// Every `Proxy-Authorization` value received.
    pub(crate) authorizations: Mutex<Vec<String>>,
}

pub(crate) struct ConnectProxy {
    pub(crate) address: SocketAddr,
    pub(crate) seen: Arc<Seen>,
}

impl ConnectProxy {
    /// A proxy tunnelling every CONNECT to `upstream`; with `required`
    /// (a whole `Proxy-Authorization` value) it answers 407 to any other.
    pub(crate) async fn start(upstream: SocketAddr, required: Option<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let counts = seen.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (counts, required) = (counts.clone(), required.clone());
                tokio::spawn(async move {
                    let _ = tunnel(socket, upstream, required, &counts).await;
                });
            }
        });
        Self { address, seen }
    }

    /// `http://127.0.0.1:port`, with `userinfo@` when given.
    pub(crate) fn url(&self, userinfo: Option<&str>) -> String {
        match userinfo {
            Some(userinfo) => format!("http://{userinfo}@{}", self.address),
            None => format!("http://{}", self.address),
        }
    }

    pub(crate) fn tunnels(&self) -> usize {
        self.seen.tunnels.load(Ordering::SeqCst)
    }

    pub(crate) fn targets(&self) -> Vec<String> {
        self.seen.targets.lock().unwrap().clone()
    }
}

async fn tunnel(
    mut client: TcpStream,
    upstream: SocketAddr,
    required: Option<String>,
    seen: &Seen,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let end = loop {
        if let Some(at) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        if head.len() > MAX_HEAD {
            return Ok(());
        }
        let mut chunk = [0u8; 1024];
        match client.read(&mut chunk).await? {
            0 => return Ok(()),
            n => head.extend_from_slice(&chunk[..n]),
        }
    };
    let text = String::from_utf8_lossy(&head[..end]).into_owned();
    let mut lines = text.split("\r\n");
    let mut request = lines.next().unwrap_or("").split(' ');
    let (Some("CONNECT"), Some(target)) = (request.next(), request.next()) else {
        client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            .await?;
        return Ok(());
    };
    seen.targets.lock().unwrap().push(target.to_owned());
    let authorization = lines.find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("proxy-authorization")
            .then(|| value.trim().to_owned())
    });
    if let Some(value) = &authorization {
        seen.authorizations.lock().unwrap().push(value.clone());
    }
    if required.is_some() && authorization != required {
        client
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm=\"test\"\r\n\r\n")
            .await?;
        return Ok(());
    }
    let mut server = TcpStream::connect(upstream).await?;
    seen.tunnels.fetch_add(1, Ordering::SeqCst);
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await?;
    // Anything the client sent after the head goes on first.
    server.write_all(&head[end..]).await?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}
