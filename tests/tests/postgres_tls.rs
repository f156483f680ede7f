//! TLS from mfad's PostgreSQL store to the database, against a real
//! PostgreSQL 15 with `ssl=on` on 127.0.0.1 and a server certificate from
//! the test CA (made with openssl): with `sslmode=require` and the CA as
//! `postgres_ca` the store works and the server itself reports every one
//! of its connections (the pool's and the LISTEN one) as TLS; a
//! certificate from another CA, or one that does not name the host, is
//! refused with an error that says so; a host that is not local is
//! refused without TLS settings, and a CA with sslmode=disable too.
//! Needs root (the cluster runs as postgres).

use anyhow::{bail, ensure, Result};
use mfa_tests::pki::Pki;
use mfa_tests::TempCluster;
use mfad::store::{PostgresStore, Store};
use std::time::{Duration, Instant};

/// The name in the server's certificate (it also holds 127.0.0.1).
const DB_HOST: &str = "db.lab.example";

fn url(pg: &TempCluster, host: &str, extra: &str) -> String {
    format!(
        "host={host} hostaddr=127.0.0.1 port={} user=postgres dbname=mfa {extra}",
        pg.port()
    )
}

/// Connections of mfad to database `mfa`, as the server sees them:
/// (with TLS, without).
fn mfad_sessions(pg: &TempCluster) -> Result<(u32, u32)> {
    let out = pg.psql(
        "postgres",
        "SELECT count(*) FILTER (WHERE s.ssl), count(*) FILTER (WHERE NOT s.ssl) \
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) \
         WHERE a.application_name = 'mfad' AND a.datname = 'mfa'",
    )?;
    let Some((tls, plain)) = out.split_once('|') else {
        bail!("odd psql output {out:?}");
    };
    Ok((tls.parse()?, plain.parse()?))
}

/// The error of a store that must not connect.
async fn refused(url: &str, ca: Option<&std::path::Path>) -> Result<String> {
    match PostgresStore::connect_with_ca(url, ca).await {
        Ok(_) => bail!("connected to {url}"),
        Err(e) => Ok(chain(&e)),
    }
}

/// An error with its causes, as mfad's log shows it (anyhow's `{:#}`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

#[test]
fn the_store_speaks_verified_tls_to_a_remote_database_and_refuses_impostors() -> Result<()> {
    let site = Pki::new("site-ca")?;
    let other = Pki::new("other-ca")?;
    let server = site.server(DB_HOST)?;
    let mut pg = TempCluster::start_new()?;
    pg.enable_tls(&server.cert, &server.key)?;
    pg.psql("postgres", "CREATE DATABASE mfa")?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let good = url(&pg, DB_HOST, "sslmode=require");
        let store = PostgresStore::connect_with_ca(&good, Some(&site.ca.cert))
            .await
            .map_err(|e| anyhow::anyhow!(chain(&e)))?;
        // Store operations work over it, and the LISTEN connection starts.
        store.ping().await?;
        ensure!(store.list("", 10).await?.is_empty());
        ensure!(store.wakeups().is_some());
        let deadline = Instant::now() + Duration::from_secs(10);
        let (tls, plain) = loop {
            let seen = mfad_sessions(&pg)?;
            // The pool's connection and the listener's.
            if seen.0 >= 2 || Instant::now() > deadline {
                break seen;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        ensure!(
            tls >= 2 && plain == 0,
            "mfad's sessions: {tls} with TLS, {plain} without"
        );
        drop(store);

        // Without sslmode in the URL the CA still makes TLS mandatory.
        let store =
            PostgresStore::connect_with_ca(&url(&pg, DB_HOST, ""), Some(&site.ca.cert)).await?;
        store.ping().await?;
        drop(store);

        // A server whose certificate another CA issued.
        let e = refused(&good, Some(&other.ca.cert)).await?;
        ensure!(
            e.contains("invalid peer certificate") && e.contains("UnknownIssuer"),
            "{e}"
        );
        // The right CA, but the certificate does not name this host.
        let e = refused(
            &url(&pg, "wrong.lab.example", "sslmode=require"),
            Some(&site.ca.cert),
        )
        .await?;
        ensure!(
            e.contains(
                "invalid peer certificate: certificate not valid for name \"wrong.lab.example\""
            ),
            "{e}"
        );
        // A host that is not local, without TLS settings: refused before
        // any connection is tried (192.0.2.1 is TEST-NET-1).
        let remote = format!("host=192.0.2.1 port={} user=postgres dbname=mfa", pg.port());
        let e = refused(&remote, None).await?;
        ensure!(e.contains("store.postgres_ca"), "{e}");
        let e = refused(&format!("{remote} sslmode=disable"), Some(&site.ca.cert)).await?;
        ensure!(e.contains("sslmode=disable"), "{e}");
        Ok(())
    })
}
