//! File uploads and downloads for the client: HTTP(S) to the same host and
//! port as the WebSocket, with the session's bearer token, streamed in chunks
//! with progress reports. Downloads never overwrite: `report (1).pdf`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use chaty_proto::Attachment;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Chunk size for reading and reporting progress.
const CHUNK: usize = 64 * 1024;

/// Where the server's HTTP side is, derived from its WebSocket URL.
#[derive(Debug, Clone)]
pub struct Endpoint {
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    token: String,
}

impl Endpoint {
    /// `ws://h:p/ws` → `http://h:p`, `wss://…` → `https://…`.
    pub fn new(ws_url: &str, token: &str, tls: Arc<rustls::ClientConfig>) -> Result<Self> {
        let uri: hyper::Uri = ws_url.parse().with_context(|| format!("bad server URL {ws_url}"))?;
        let secure = uri.scheme_str() == Some("wss");
        let host = uri.host().context("the server URL has no host")?.trim_matches(['[', ']']).to_string();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        Ok(Self { host, port, tls: secure.then_some(tls), token: token.to_string() })
    }

    async fn send<B>(&self, request: Request<B>) -> Result<Response<Incoming>>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
            .await
            .with_context(|| format!("cannot reach {}:{}", self.host, self.port))?;
        match &self.tls {
            None => exchange(tcp, request).await,
            Some(tls) => {
                let name = rustls_pki_types::ServerName::try_from(self.host.clone()).context("bad server name")?;
                let stream = tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp).await?;
                exchange(stream, request).await
            }
        }
    }

    fn request(&self, method: &str, path: &str) -> hyper::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(path)
            .header("Host", format!("{}:{}", self.host, self.port))
            .header("Authorization", format!("Bearer {}", self.token))
    }
}

pub(crate) async fn exchange<S, B>(stream: S, request: Request<B>) -> Result<Response<Incoming>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender.send_request(request).await?)
}

/// The server's error text from a refusal (its body is an `ERROR` frame).
async fn refusal(response: Response<Incoming>) -> String {
    let status = response.status();
    let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    match chaty_proto::parse_server(&String::from_utf8_lossy(&body)) {
        Ok(reply) => match reply.frame {
            chaty_proto::ServerFrame::Error { code, message, retry_after_ms } => {
                format!("{} (HTTP {})", crate::words::refusal(code, &message, retry_after_ms), status.as_u16())
            }
            _ => format!("HTTP {status}"),
        },
        Err(_) => format!("HTTP {status}"),
    }
}

fn guess_mime(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).as_deref() {
        Some("txt" | "log" | "md") => "text/plain",
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("json") => "application/json",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

/// Uploads `path`; `progress(sent, total)` is called per chunk.
pub async fn upload(
    endpoint: &Endpoint,
    path: &Path,
    progress: impl Fn(u64, u64) + Send + Sync + 'static,
) -> Result<Attachment> {
    let file = tokio::fs::File::open(path).await.with_context(|| format!("cannot open {}", path.display()))?;
    let total = file.metadata().await?.len();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).context("that path has no file name")?;
    let progress = Arc::new(progress);
    let chunks = futures_util::stream::unfold((file, 0u64), move |(mut file, sent)| {
        let progress = progress.clone();
        async move {
            let mut buf = vec![0u8; CHUNK];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    let sent = sent + n as u64;
                    progress(sent, total);
                    Some((Ok::<_, std::io::Error>(Frame::data(Bytes::from(buf))), (file, sent)))
                }
                Err(e) => Some((Err(e), (file, sent))),
            }
        }
    });
    let query: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect();
    let request = endpoint
        .request("PUT", &format!("/files?name={query}"))
        .header("Content-Type", guess_mime(&name))
        .header("Content-Length", total)
        .body(StreamBody::new(chunks))?;
    let response = endpoint.send(request).await?;
    if !response.status().is_success() {
        bail!("upload refused: {}", refusal(response).await);
    }
    let body = response.into_body().collect().await?.to_bytes();
    serde_json::from_slice(&body).context("the server's answer to the upload is not an attachment")
}

/// Downloads `attachment` into `dir` under a name that is not taken yet.
pub async fn download(
    endpoint: &Endpoint,
    attachment: &Attachment,
    dir: &Path,
    progress: impl Fn(u64, u64) + Send,
) -> Result<PathBuf> {
    let response = get_file(endpoint, &attachment.file_id, "download").await?;
    chaty_server::private::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let (path, mut file) = create_new(dir, &attachment.name).await?;
    let mut body = response.into_body().into_data_stream();
    let mut received = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("the download broke off")?;
        received += chunk.len() as u64;
        file.write_all(&chunk).await?;
        progress(received, attachment.size);
    }
    file.sync_all().await?;
    Ok(path)
}

/// `GET /files/<fileId>`, refused unless the server says yes.
async fn get_file(endpoint: &Endpoint, file_id: &str, what: &str) -> Result<Response<Incoming>> {
    let request = endpoint.request("GET", &format!("/files/{file_id}")).body(Empty::<Bytes>::new())?;
    let response = endpoint.send(request).await?;
    if !response.status().is_success() {
        bail!("{what} refused: {}", refusal(response).await);
    }
    Ok(response)
}

/// The bytes of a file, for a preview, at most `max_bytes` of them: refused
/// before reading when the server announces more (`Content-Length`), and
/// while reading as soon as more arrive, whatever it announced.
pub async fn fetch(endpoint: &Endpoint, file_id: &str, max_bytes: u64) -> Result<Vec<u8>> {
    let response = get_file(endpoint, file_id, "preview").await?;
    let announced = response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(why) = announced.and_then(|size| crate::preview::too_big(size, max_bytes)) {
        bail!(why);
    }
    let mut body = response.into_body().into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.context("the download broke off")?;
        let size = (bytes.len() + chunk.len()) as u64;
        if let Some(why) = crate::preview::too_big(size, max_bytes) {
            bail!("{why} (and still coming)");
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Where a download goes: the Downloads folder the desktop names
/// (`xdg`, from `user-dirs.dirs`); else `~/Downloads` if it exists; else the
/// home folder; else the current directory. Off Downloads, a note says why,
/// shown with the full path the file was saved to.
pub fn download_dir(xdg: Option<&Path>, home: Option<&Path>, cwd: &Path) -> (PathBuf, Option<String>) {
    match (xdg, home) {
        (Some(dir), _) => (dir.to_path_buf(), None),
        (None, Some(home)) if home.join("Downloads").is_dir() => (home.join("Downloads"), None),
        (None, Some(home)) => (home.to_path_buf(), Some("no Downloads folder".into())),
        (None, None) => (cwd.to_path_buf(), Some("no Downloads or home folder".into())),
    }
}

/// A file name safe to create: no directories, no dot-files, no control characters.
pub fn safe_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).collect();
    let clean = clean.trim_start_matches('.').trim();
    if clean.is_empty() { "download".to_string() } else { clean.to_string() }
}

/// Opens `dir/name`, or `name (1)`, `name (2)`, … whichever does not exist
/// yet, readable by its owner only (0600; the umask can only narrow that).
async fn create_new(dir: &Path, name: &str) -> Result<(PathBuf, tokio::fs::File)> {
    let name = safe_name(name);
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_string(), format!(".{ext}")),
        _ => (name.clone(), String::new()),
    };
    for n in 0..1000 {
        let candidate = if n == 0 { dir.join(&name) } else { dir.join(format!("{stem} ({n}){ext}")) };
        let mut options = tokio::fs::OpenOptions::new();
        // Someone's file from a private conversation: theirs alone, whatever the umask.
        #[cfg(unix)]
        options.mode(chaty_server::private::FILE_MODE);
        match options.write(true).create_new(true).open(&candidate).await {
            Ok(file) => return Ok((candidate, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot write {}", candidate.display())),
        }
    }
    bail!("too many files called {name} in {}", dir.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot HTTP server answering with `head` and then `body`.
    async fn serve(head: &'static str, body: Vec<u8>) -> Endpoint {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            if let Ok((mut stream, _)) = listener.accept().await {
                let mut request = [0u8; 4096];
                let _ = stream.read(&mut request).await;
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            }
        });
        let tls = Arc::new(
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("tls")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
        );
        Endpoint::new(&format!("ws://127.0.0.1:{port}/ws"), "t", tls).expect("endpoint")
    }

    #[tokio::test]
    async fn a_preview_stops_at_max_image_mib_before_and_while_reading() {
        let mib = 1024 * 1024;
        // Announced too big: refused before reading.
        let endpoint = serve("HTTP/1.1 200 OK\r\nContent-Length: 2097152\r\n\r\n", Vec::new()).await;
        let err = format!("{:#}", fetch(&endpoint, "f", mib).await.expect_err("announced"));
        assert!(err.contains("over max_image_mib (1 MiB)") && !err.contains("still coming"), "{err}");
        // Announced as nothing in particular, then more than the cap: refused as it comes.
        let mut chunked = Vec::new();
        for _ in 0..3 {
            chunked.extend_from_slice(format!("{:x}\r\n", 512 * 1024).as_bytes());
            chunked.extend(std::iter::repeat_n(b'x', 512 * 1024));
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let endpoint = serve("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", chunked).await;
        let err = format!("{:#}", fetch(&endpoint, "f", mib).await.expect_err("streamed"));
        assert!(err.contains("over max_image_mib (1 MiB) (and still coming)"), "{err}");
        // Within the cap: the bytes.
        let endpoint = serve("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", b"hello".to_vec()).await;
        assert_eq!(fetch(&endpoint, "f", mib).await.expect("small"), b"hello");
    }

    #[test]
    fn downloads_go_to_the_desktops_folder_then_home_downloads_then_home_then_here() {
        let home = tempfile::tempdir().expect("tempdir");
        let (home, cwd) = (home.path(), Path::new("/work"));
        let xdg = home.join("Téléchargements");
        assert_eq!(download_dir(Some(&xdg), Some(home), cwd), (xdg.clone(), None));
        let (dir, note) = download_dir(None, Some(home), cwd);
        assert_eq!(dir, home);
        assert_eq!(note.as_deref(), Some("no Downloads folder"));
        // ~/Downloads that user-dirs.dirs does not list (or with no such file).
        std::fs::create_dir(home.join("Downloads")).expect("mkdir ~/Downloads");
        assert_eq!(download_dir(None, Some(home), cwd), (home.join("Downloads"), None));
        assert_eq!(download_dir(Some(&xdg), Some(home), cwd), (xdg, None), "the desktop's choice first");
        let (dir, note) = download_dir(None, None, cwd);
        assert_eq!(dir, cwd);
        assert_eq!(note.as_deref(), Some("no Downloads or home folder"));
    }

    #[test]
    fn names_cannot_escape_the_download_dir() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(safe_name(".bashrc"), "bashrc");
        assert_eq!(safe_name("a\u{1b}[2Jb.txt"), "a[2Jb.txt");
        assert_eq!(safe_name(""), "download");
    }

    #[tokio::test]
    async fn downloads_never_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (first, _) = create_new(dir.path(), "report.pdf").await.expect("first");
        let (second, _) = create_new(dir.path(), "report.pdf").await.expect("second");
        let (third, _) = create_new(dir.path(), "report.pdf").await.expect("third");
        assert_eq!(first.file_name().and_then(|n| n.to_str()), Some("report.pdf"));
        assert_eq!(second.file_name().and_then(|n| n.to_str()), Some("report (1).pdf"));
        assert_eq!(third.file_name().and_then(|n| n.to_str()), Some("report (2).pdf"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&first).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "private: {mode:o}");
        }
    }

    #[test]
    fn endpoints_follow_the_websocket_url() {
        let tls = crate::tls::client_config(None).expect("tls");
        let plain = Endpoint::new("ws://127.0.0.1:8181/ws", "t", tls.clone()).expect("ws");
        assert_eq!((plain.host.as_str(), plain.port, plain.tls.is_some()), ("127.0.0.1", 8181, false));
        let secure = Endpoint::new("wss://chat.example.com/ws", "t", tls).expect("wss");
        assert_eq!((secure.host.as_str(), secure.port, secure.tls.is_some()), ("chat.example.com", 443, true));
    }
}
