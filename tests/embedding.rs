//! The README's embedding example, as a test: a server started in-process on an ephemeral
//! port, used through the `redis` crate, stopped when dropped.

#[test]
fn embedded_server_with_the_redis_crate() -> redis::RedisResult<()> {
    let server = latchkey::Server::new(latchkey::Config::default())
        .start_background()
        .expect("server starts");
    let client = redis::Client::open(server.url())?;
    let mut con = client.get_connection()?;

    // Acquire, contend, release by compare-and-delete.
    let acquired: Option<String> = redis::cmd("SET")
        .arg("lock:orders")
        .arg("token-1")
        .arg("NX")
        .arg("PX")
        .arg(30_000)
        .query(&mut con)?;
    assert_eq!(acquired.as_deref(), Some("OK"));
    let contended: Option<String> = redis::cmd("SET")
        .arg("lock:orders")
        .arg("token-2")
        .arg("NX")
        .arg("PX")
        .arg(30_000)
        .query(&mut con)?;
    assert_eq!(contended, None);
    let released: i64 = redis::cmd("DELIFEQ")
        .arg("lock:orders")
        .arg("token-1")
        .query(&mut con)?;
    assert_eq!(released, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_server_on_the_callers_runtime() {
    let server = latchkey::Server::new(latchkey::Config::default())
        .start()
        .await
        .expect("server starts");
    let client = redis::Client::open(format!("redis://{}/", server.local_addr())).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
    assert_eq!(pong, "PONG");
    server.shutdown().await;
}
