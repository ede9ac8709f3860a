//! The simulated world end to end: a hyper-util client with the turmoil connector, inside the
//! `vmcp` host, talking MCP to simulated pods through service names, under faults.

mod support;

use std::time::Duration;

use http::{Method, StatusCode};
use support::{
    Failure, Http, Notes, client, initialized_msg, now, request_msg, sleep_until, vmcp,
    without_session_suffix,
};
use vmcp_sim::{
    ConnectOutcome, ConnectionRecord, PodBehaviour, PodRetirement, PodStats, ReplyMode, World,
    WorldConfig,
};

const fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

fn world(seed: u64) -> World {
    World::new(WorldConfig {
        seed,
        ..WorldConfig::default()
    })
}

fn opened(log: &[ConnectionRecord]) -> Vec<(String, String)> {
    log.iter()
        .filter(|r| r.outcome == ConnectOutcome::Opened)
        .map(|r| (r.service.clone(), r.pod.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn full_mcp_session_through_the_service_name() {
    let mut world = world(1);
    assert_eq!(
        world.add_backend("github", PodBehaviour::Healthy).unwrap(),
        "github-pod-1"
    );
    let url = world.backend_url("github");
    assert_eq!(url, "http://github:8080/mcp");
    let conn = world.connector();
    let done = Notes::<bool>::default();
    let d = done.clone();
    vmcp(&mut world, move || {
        let (http, url, done) = (Http::new(conn.clone()), url.clone(), d.clone());
        async move {
            let init = http.initialize(&url).await.unwrap();
            assert_eq!(init.status, StatusCode::OK);
            assert_eq!(
                init.session()
                    .map(|id| without_session_suffix(&id))
                    .as_deref(),
                Some("github-pod-1-s1")
            );
            assert_eq!(init.pod(), "github-pod-1");
            let result = &init.json()["result"];
            assert_eq!(result["protocolVersion"], "2025-06-18");
            assert!(result["capabilities"]["tools"].is_object());
            assert_eq!(result["serverInfo"]["name"], "github-pod-1");
            let sid = init.session().unwrap();

            let ack = http
                .post(&url, Some(&sid), initialized_msg())
                .await
                .unwrap();
            assert_eq!(ack.status, StatusCode::ACCEPTED);
            let tools = http
                .post(&url, Some(&sid), request_msg(2, "tools/list"))
                .await
                .unwrap();
            assert_eq!(tools.status, StatusCode::OK);
            assert_eq!(tools.json()["id"], 2);
            assert_eq!(tools.json()["result"]["tools"][0]["name"], "echo");
            let ping = http
                .post(&url, Some(&sid), request_msg(3, "ping"))
                .await
                .unwrap();
            assert_eq!(ping.json()["result"], serde_json::json!({}));
            let unknown = http
                .post(&url, Some(&sid), request_msg(4, "nope"))
                .await
                .unwrap();
            assert_eq!(unknown.json()["error"]["code"], -32601);

            // Protocol errors a real server reports.
            let no_session = http.post(&url, None, request_msg(5, "ping")).await.unwrap();
            assert_eq!(no_session.status, StatusCode::BAD_REQUEST);
            let bad_session = http
                .post(&url, Some("zzz"), request_msg(6, "ping"))
                .await
                .unwrap();
            assert_eq!(bad_session.status, StatusCode::NOT_FOUND);

            let del = http
                .send(Method::DELETE, &url, Some(&sid), None)
                .await
                .unwrap();
            assert_eq!(del.status, StatusCode::OK);
            let after = http
                .post(&url, Some(&sid), request_msg(7, "ping"))
                .await
                .unwrap();
            assert_eq!(
                after.status,
                StatusCode::NOT_FOUND,
                "deleted session is gone"
            );
            done.push(true);
        }
    });
    world.run_until(secs(5)).unwrap();
    assert_eq!(done.all(), [true]);

    // One keep-alive connection carried the whole session.
    assert_eq!(
        opened(&world.connection_log().records()),
        [("github".to_owned(), "github-pod-1".to_owned())]
    );
    let stats = world.pod_stats("github-pod-1").unwrap();
    assert_eq!(stats.starts, 1);
    assert_eq!(stats.connections_accepted, 1);
    assert_eq!(stats.requests_for("initialize"), 1);
    assert_eq!(stats.requests_for("notifications/initialized"), 1);
    assert_eq!(stats.requests_for("tools/list"), 1);
    assert_eq!(stats.requests_for("ping"), 4);
    assert_eq!(stats.requests_for("DELETE"), 1);
    assert_eq!(stats.responses_with(404), 2);
    assert_eq!(stats.sessions_created, 1);
}

#[test]
fn fixed_status_for_every_request_or_only_initialize() {
    let mut world = world(2);
    world
        .add_backend(
            "auth",
            PodBehaviour::Status {
                code: StatusCode::UNAUTHORIZED,
                only_initialize: false,
            },
        )
        .unwrap();
    world
        .add_backend(
            "gate",
            PodBehaviour::Status {
                code: StatusCode::SERVICE_UNAVAILABLE,
                only_initialize: true,
            },
        )
        .unwrap();
    let (auth, gate) = (world.backend_url("auth"), world.backend_url("gate"));
    let conn = world.connector();
    let seen = Notes::<(StatusCode, Option<String>)>::default();
    let s = seen.clone();
    vmcp(&mut world, move || {
        let (http, auth, gate, seen) = (
            Http::new(conn.clone()),
            auth.clone(),
            gate.clone(),
            s.clone(),
        );
        async move {
            let r = http.initialize(&auth).await.unwrap();
            let www = r
                .headers
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned());
            seen.push((r.status, www));
            let r = http
                .post(&auth, Some("x"), request_msg(2, "tools/list"))
                .await
                .unwrap();
            seen.push((r.status, None));
            let r = http.initialize(&gate).await.unwrap();
            seen.push((r.status, None));
            // Non-initialize requests are served normally (here: unknown session → 404).
            let r = http
                .post(&gate, Some("x"), request_msg(2, "ping"))
                .await
                .unwrap();
            seen.push((r.status, None));
        }
    });
    world.run_until(secs(2)).unwrap();
    assert_eq!(
        seen.all(),
        [
            (StatusCode::UNAUTHORIZED, Some("Bearer".to_owned())),
            (StatusCode::UNAUTHORIZED, None),
            (StatusCode::SERVICE_UNAVAILABLE, None),
            (StatusCode::NOT_FOUND, None),
        ]
    );
}

/// THE upstream bug: after a pod replacement, a pooled keep-alive connection keeps reaching the
/// old pod (which answers 4xx forever), while a fresh pool reaches the new pod.
#[test]
fn pooled_connection_stays_on_the_replaced_pod() {
    let mut world = world(3);
    world.add_backend("github", PodBehaviour::Healthy).unwrap();
    let url = world.backend_url("github");
    let conn = world.connector();
    let seen = Notes::<(&'static str, StatusCode, String)>::default();
    let s = seen.clone();
    vmcp(&mut world, move || {
        let (conn, url, seen) = (conn.clone(), url.clone(), s.clone());
        async move {
            let shared = Http::new(conn.clone());
            let r = shared.initialize(&url).await.unwrap();
            seen.push(("before", r.status, r.pod()));
            // The world replaces the pod at t = 5 s.
            sleep_until(secs(10)).await;
            let r = shared.initialize(&url).await.unwrap();
            seen.push(("pooled", r.status, r.pod()));
            let r = shared.initialize(&url).await.unwrap();
            seen.push(("pooled again", r.status, r.pod()));
            let fresh = Http::new(conn.clone());
            let r = fresh.initialize(&url).await.unwrap();
            seen.push(("fresh", r.status, r.pod()));
        }
    });
    world.run_until(secs(5)).unwrap();
    let new = world
        .replace_pod(
            "github",
            PodBehaviour::Healthy,
            PodRetirement::Stale(PodBehaviour::Status {
                code: StatusCode::NOT_FOUND,
                only_initialize: false,
            }),
        )
        .unwrap();
    assert_eq!(new, "github-pod-2");
    assert_eq!(world.current_pod("github").as_deref(), Some("github-pod-2"));
    world.run_until(secs(12)).unwrap();

    let pod1 = "github-pod-1".to_owned();
    let pod2 = "github-pod-2".to_owned();
    assert_eq!(
        seen.all(),
        [
            ("before", StatusCode::OK, pod1.clone()),
            ("pooled", StatusCode::NOT_FOUND, pod1.clone()),
            ("pooled again", StatusCode::NOT_FOUND, pod1.clone()),
            ("fresh", StatusCode::OK, pod2.clone()),
        ]
    );
    assert_eq!(
        opened(&world.connection_log().records()),
        [
            ("github".to_owned(), pod1.clone()),
            ("github".to_owned(), pod2.clone())
        ]
    );
    assert!(world.pod("github-pod-1").unwrap().is_retired());
    assert_eq!(world.pod_stats(&pod1).unwrap().responses_with(404), 2);
    assert_eq!(world.pod_stats(&pod2).unwrap().responses_with(200), 1);
}

/// A retired pod stops listening: a connect addressed to it directly is refused.
#[test]
fn retired_pod_refuses_new_connections() {
    let mut world = world(4);
    world.add_backend("a", PodBehaviour::Healthy).unwrap();
    world
        .replace_pod(
            "a",
            PodBehaviour::Healthy,
            PodRetirement::Stale(PodBehaviour::Healthy),
        )
        .unwrap();
    let conn = world.connector();
    let seen = Notes::<Failure>::default();
    let s = seen.clone();
    vmcp(&mut world, move || {
        let (http, seen) = (Http::new(conn.clone()), s.clone());
        async move {
            sleep_until(ms(100)).await;
            seen.push(
                http.initialize("http://a-pod-1:8080/mcp")
                    .await
                    .unwrap_err(),
            );
        }
    });
    world.run_until(secs(1)).unwrap();
    let failures = seen.all();
    assert!(
        matches!(&failures[..], [Failure::Connect(m)] if m.contains("refused")),
        "{failures:?}"
    );
}

#[test]
fn terminated_old_pod_closes_pooled_connections() {
    let mut world = world(5);
    world.add_backend("a", PodBehaviour::Healthy).unwrap();
    let seen =
        client::<(StatusCode, String), _, _>(&mut world, "a", |http, url, seen| async move {
            let r = http.initialize(&url).await.unwrap();
            seen.push((r.status, r.pod()));
            sleep_until(secs(10)).await;
            let r = http.initialize(&url).await.unwrap();
            seen.push((r.status, r.pod()));
        });
    world.run_until(secs(5)).unwrap();
    world
        .replace_pod("a", PodBehaviour::Healthy, PodRetirement::Terminate)
        .unwrap();
    world.run_until(secs(11)).unwrap();
    assert_eq!(
        seen.all(),
        [
            (StatusCode::OK, "a-pod-1".to_owned()),
            (StatusCode::OK, "a-pod-2".to_owned())
        ]
    );
    assert!(!world.is_pod_running("a-pod-1").unwrap());
}

#[test]
fn blackholed_old_pod_hangs_pooled_requests() {
    let mut world = world(6);
    world.add_backend("a", PodBehaviour::Healthy).unwrap();
    let url = world.backend_url("a");
    let conn = world.connector();
    let seen = Notes::<String>::default();
    let s = seen.clone();
    vmcp(&mut world, move || {
        let (conn, url, seen) = (conn.clone(), url.clone(), s.clone());
        async move {
            let pooled = Http::new(conn.clone());
            pooled.initialize(&url).await.unwrap();
            sleep_until(secs(10)).await;
            let t0 = now();
            let r = tokio::time::timeout(secs(3), pooled.initialize(&url)).await;
            seen.push(format!(
                "pooled: timed_out={} after {:?}",
                r.is_err(),
                now() - t0
            ));
            let r = Http::new(conn.clone()).initialize(&url).await.unwrap();
            seen.push(format!("fresh: {} {}", r.status, r.pod()));
        }
    });
    world.run_until(secs(5)).unwrap();
    world
        .replace_pod("a", PodBehaviour::Healthy, PodRetirement::Blackhole)
        .unwrap();
    world.run_until(secs(15)).unwrap();
    assert_eq!(
        seen.all(),
        ["pooled: timed_out=true after 3s", "fresh: 200 OK a-pod-2"]
    );
}

#[test]
fn hang_is_cut_by_a_client_timeout_in_simulated_time() {
    let mut world = world(7);
    world.add_backend("a", PodBehaviour::Hang).unwrap();
    let seen = client::<(bool, Duration), _, _>(&mut world, "a", |http, url, seen| async move {
        let t0 = now();
        let r = tokio::time::timeout(secs(10), http.initialize(&url)).await;
        seen.push((r.is_err(), now() - t0));
        // Giving up closes the connection; the pod drops its side (no leaked connection).
        tokio::time::sleep(secs(1)).await;
        let streams = turmoil::established_tcp_stream_count_on("a-pod-1");
        seen.push((streams == 0, Duration::ZERO));
    });
    world.run_until(secs(12)).unwrap();
    assert_eq!(seen.all(), [(true, secs(10)), (true, Duration::ZERO)]);
    let stats = world.pod_stats("a-pod-1").unwrap();
    assert_eq!(
        stats.requests_for("initialize"),
        1,
        "the request was received"
    );
    assert_eq!(stats.responses.len(), 0, "but never answered");
}

#[test]
fn slow_pod_delays_each_response() {
    let mut world = world(8);
    world.add_backend("a", PodBehaviour::Slow(secs(2))).unwrap();
    let seen =
        client::<(StatusCode, Duration), _, _>(&mut world, "a", |http, url, seen| async move {
            let t0 = now();
            let r = http.initialize(&url).await.unwrap();
            seen.push((r.status, now() - t0));
        });
    world.run_until(secs(5)).unwrap();
    let [(status, took)] = seen.all()[..] else {
        panic!("one reply expected")
    };
    assert_eq!(status, StatusCode::OK);
    assert!(took >= secs(2) && took < ms(2100), "took {took:?}");
}

#[test]
fn close_answers_nothing_and_drops_the_connection() {
    let mut world = world(9);
    world.add_backend("a", PodBehaviour::Close).unwrap();
    let seen = client::<Failure, _, _>(&mut world, "a", |http, url, seen| async move {
        seen.push(http.initialize(&url).await.unwrap_err());
    });
    world.run_until(secs(2)).unwrap();
    assert_eq!(seen.all(), [Failure::Incomplete]);
    assert_eq!(world.pod_stats("a-pod-1").unwrap().closed_without_reply, 1);
}

#[test]
fn refuse_and_starting_for_refuse_connects_quickly() {
    let mut world = world(10);
    world.add_backend("down", PodBehaviour::Refuse).unwrap();
    world
        .add_backend("boot", PodBehaviour::StartingFor(secs(3)))
        .unwrap();
    let (down, boot) = (world.backend_url("down"), world.backend_url("boot"));
    let conn = world.connector();
    let seen = Notes::<String>::default();
    let s = seen.clone();
    vmcp(&mut world, move || {
        let (http, down, boot, seen) = (
            Http::new(conn.clone()),
            down.clone(),
            boot.clone(),
            s.clone(),
        );
        async move {
            let t0 = now();
            let e = http.initialize(&down).await.unwrap_err();
            let quick = now() - t0 < ms(50);
            seen.push(format!("down: {e:?} quick={quick}"));
            let e = http.initialize(&boot).await.unwrap_err();
            seen.push(format!(
                "boot early: connect={}",
                matches!(e, Failure::Connect(_))
            ));
            sleep_until(secs(3) + ms(10)).await;
            let r = http.initialize(&boot).await.unwrap();
            seen.push(format!("boot later: {}", r.status));
        }
    });
    world.run_until(secs(2)).unwrap();
    // Bring `down` up, so its pod counters show it now listens.
    world
        .set_behaviour("down-pod-1", PodBehaviour::Healthy)
        .unwrap();
    world.run_until(secs(5)).unwrap();
    let seen = seen.all();
    assert!(
        seen[0].starts_with("down: Connect(") && seen[0].contains("refused"),
        "{seen:?}"
    );
    assert!(seen[0].ends_with("quick=true"), "{seen:?}");
    assert_eq!(
        seen[1..],
        ["boot early: connect=true", "boot later: 200 OK"]
    );
    let failed: Vec<_> = world
        .connection_log()
        .records()
        .into_iter()
        .filter(|r| matches!(r.outcome, ConnectOutcome::Failed(_)))
        .map(|r| (r.pod.unwrap(), r.outcome))
        .collect();
    assert_eq!(
        failed,
        [
            (
                "down-pod-1".to_owned(),
                ConnectOutcome::Failed("ConnectionRefused".into())
            ),
            (
                "boot-pod-1".to_owned(),
                ConnectOutcome::Failed("ConnectionRefused".into())
            ),
        ]
    );
}

#[test]
fn switching_to_refuse_closes_existing_connections() {
    let mut world = world(11);
    world.add_backend("a", PodBehaviour::Healthy).unwrap();
    let seen = client::<String, _, _>(&mut world, "a", |http, url, seen| async move {
        http.initialize(&url).await.unwrap();
        sleep_until(secs(2)).await;
        // The pooled connection was closed by the pod; a new connect is refused.
        let e = http.initialize(&url).await.unwrap_err();
        seen.push(format!("{e:?}"));
    });
    world.run_until(secs(1)).unwrap();
    world
        .set_behaviour("a-pod-1", PodBehaviour::Refuse)
        .unwrap();
    world.run_until(secs(3)).unwrap();
    assert_eq!(
        seen.all(),
        ["Connect(\"connect to `a-pod-1` for `a` failed: connection refused: 192.168.0.1:8080\")"]
    );
    // A new connect was attempted: the pooled connection had been closed by the pod.
    let outcomes: Vec<_> = world
        .connection_log()
        .records()
        .into_iter()
        .map(|r| r.outcome)
        .collect();
    assert_eq!(
        outcomes,
        [
            ConnectOutcome::Opened,
            ConnectOutcome::Failed("ConnectionRefused".into())
        ]
    );
}

#[test]
fn no_ready_endpoint_fails_fast_and_is_logged() {
    let mut world = world(12);
    world.add_backend("a", PodBehaviour::Healthy).unwrap();
    world.route("a", None).unwrap();
    let seen = client::<(Failure, Duration), _, _>(&mut world, "a", |http, url, seen| async move {
        let t0 = now();
        let e = http.initialize(&url).await.unwrap_err();
        seen.push((e, now() - t0));
    });
    world.run_until(secs(1)).unwrap();
    let seen = seen.all();
    assert_eq!(
        seen[0].0,
        Failure::Connect("connection refused: service `a` has no ready endpoints".into())
    );
    assert_eq!(seen[0].1, Duration::ZERO);
    let log = world.connection_log().records();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].outcome, ConnectOutcome::NoEndpoints);
    assert_eq!(log[0].pod, None);
    assert_eq!(
        world.pod_stats("a-pod-1").unwrap(),
        PodStats {
            starts: 1,
            ..PodStats::default()
        }
    );
}

#[test]
fn legacy_sse_server_rejects_post_and_streams_an_endpoint_on_get() {
    let mut world = world(13);
    world.add_backend("old", PodBehaviour::LegacySse).unwrap();
    let seen = client::<String, _, _>(&mut world, "old", |http, url, seen| async move {
        let r = http.initialize(&url).await.unwrap();
        seen.push(format!(
            "{} allow={:?}",
            r.status,
            r.headers.get("allow").unwrap()
        ));
        let (status, first) = http.first_frame(Method::GET, &url).await.unwrap();
        seen.push(format!(
            "{status} {}",
            String::from_utf8_lossy(&first).trim_end()
        ));
    });
    world.run_until(secs(2)).unwrap();
    assert_eq!(
        seen.all()
            .iter()
            .map(|line| without_session_suffix(line))
            .collect::<Vec<_>>(),
        [
            "405 Method Not Allowed allow=\"GET\"",
            "200 OK event: endpoint\ndata: /messages?sessionId=old-pod-1-s1",
        ]
    );
}

#[test]
fn forget_sessions_answers_404_to_everything_but_initialize() {
    let mut world = world(14);
    world
        .add_backend("a", PodBehaviour::ForgetSessions)
        .unwrap();
    let seen = client::<StatusCode, _, _>(&mut world, "a", |http, url, seen| async move {
        let init = http.initialize(&url).await.unwrap();
        seen.push(init.status);
        let sid = init.session().unwrap();
        seen.push(
            http.post(&url, Some(&sid), initialized_msg())
                .await
                .unwrap()
                .status,
        );
        seen.push(
            http.post(&url, Some(&sid), request_msg(2, "tools/list"))
                .await
                .unwrap()
                .status,
        );
    });
    world.run_until(secs(2)).unwrap();
    assert_eq!(
        seen.all(),
        [StatusCode::OK, StatusCode::NOT_FOUND, StatusCode::NOT_FOUND]
    );
}

/// Parses `text/event-stream` into (id, event, data) triples.
fn sse_events(body: &str) -> Vec<(Option<String>, Option<String>, String)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let (mut id, mut event, mut data) = (None, None, Vec::new());
            for line in block.lines() {
                let (field, value) = line.split_once(':').unwrap_or((line, ""));
                let value = value.strip_prefix(' ').unwrap_or(value).to_owned();
                match field {
                    "id" => id = Some(value),
                    "event" => event = Some(value),
                    "data" => data.push(value),
                    _ => {}
                }
            }
            (id, event, data.join("\n"))
        })
        .collect()
}

#[test]
fn sse_replies_prime_then_carry_the_response() {
    let mut world = world(15);
    world.add_backend("a", PodBehaviour::Healthy).unwrap();
    world.set_reply_mode("a-pod-1", ReplyMode::Sse).unwrap();
    let seen =
        client::<(String, String, String), _, _>(&mut world, "a", |http, url, seen| async move {
            let init = http.initialize(&url).await.unwrap();
            let sid = init.session().unwrap();
            let tools = http
                .post(&url, Some(&sid), request_msg(2, "tools/list"))
                .await
                .unwrap();
            for r in [init, tools] {
                let ct = r.headers["content-type"].to_str().unwrap().to_owned();
                seen.push((
                    ct,
                    String::from_utf8(r.body.to_vec()).unwrap(),
                    r.status.to_string(),
                ));
            }
        });
    world.run_until(secs(2)).unwrap();
    let seen = seen.all();
    assert_eq!(seen.len(), 2);
    for (ct, _, status) in &seen {
        assert_eq!(ct, "text/event-stream");
        assert_eq!(status, "200 OK");
    }
    let init = sse_events(&seen[0].1);
    assert_eq!(init.len(), 2, "{init:?}");
    assert_eq!(
        init[0],
        (Some("a-pod-1-e1".into()), None, String::new()),
        "priming event"
    );
    assert_eq!(init[1].1.as_deref(), Some("message"));
    let msg: serde_json::Value = serde_json::from_str(&init[1].2).unwrap();
    assert_eq!(msg["result"]["serverInfo"]["name"], "a-pod-1");
    let tools = sse_events(&seen[1].1);
    let msg: serde_json::Value = serde_json::from_str(&tools[1].2).unwrap();
    assert_eq!(msg["id"], 2);
    assert_eq!(msg["result"]["tools"][0]["name"], "echo");
}

/// turmoil crash semantics: peers of a crashed host see their connections close, new connects
/// hang (neither delivered nor refused) until the host restarts — with no sessions.
#[test]
fn crash_hangs_connects_and_restart_forgets_sessions() {
    let mut world = world(16);
    world.add_backend("a", PodBehaviour::Healthy).unwrap();
    let seen = client::<String, _, _>(&mut world, "a", |http, url, seen| async move {
        let sid = http.initialize(&url).await.unwrap().session().unwrap();
        // Crash at 1 s.
        sleep_until(secs(2)).await;
        let t0 = now();
        let r = tokio::time::timeout(secs(3), http.initialize(&url)).await;
        seen.push(format!(
            "while crashed: timed_out={} after {:?}",
            r.is_err(),
            now() - t0
        ));
        // Restart at 6 s.
        sleep_until(secs(7)).await;
        let r = http
            .post(&url, Some(&sid), request_msg(2, "ping"))
            .await
            .unwrap();
        seen.push(format!("old session: {}", r.status));
        let r = http.initialize(&url).await.unwrap();
        seen.push(format!("new session: {}", r.session().unwrap()));
    });
    world.run_until(secs(1)).unwrap();
    world.crash_pod("a-pod-1").unwrap();
    world.run_until(secs(6)).unwrap();
    world.restart_pod("a-pod-1").unwrap();
    world.run_until(secs(8)).unwrap();
    assert_eq!(
        seen.all()
            .iter()
            .map(|line| without_session_suffix(line))
            .collect::<Vec<_>>(),
        [
            "while crashed: timed_out=true after 3s",
            "old session: 404 Not Found",
            "new session: a-pod-1-s2",
        ]
    );
    let stats = world.pod_stats("a-pod-1").unwrap();
    assert_eq!(stats.starts, 2);
    // The connect attempted during the crash never completed: logged as abandoned when the
    // client's timeout dropped it, stamped with its start.
    let log: Vec<_> = world
        .connection_log()
        .records()
        .into_iter()
        .map(|r| (r.at, r.pod.unwrap(), r.outcome))
        .collect();
    let outcomes: Vec<_> = log
        .iter()
        .map(|(_, pod, o)| (pod.as_str(), o.clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("a-pod-1", ConnectOutcome::Opened),
            ("a-pod-1", ConnectOutcome::Abandoned),
            ("a-pod-1", ConnectOutcome::Opened),
        ]
    );
    assert!(
        log[1].0 >= secs(2) && log[1].0 < secs(2) + ms(100),
        "{log:?}"
    );
    assert!(log[2].0 >= secs(7), "{log:?}");
}

#[test]
fn partition_refuses_connects_and_hold_delays_until_release() {
    let mut world = world(17);
    world.add_backend("a", PodBehaviour::Healthy).unwrap();
    world.add_backend("b", PodBehaviour::Healthy).unwrap();
    let (a, b) = (world.backend_url("a"), world.backend_url("b"));
    let conn = world.connector();
    let seen = Notes::<String>::default();
    let s = seen.clone();
    vmcp(&mut world, move || {
        let (http, a, b, seen) = (Http::new(conn.clone()), a.clone(), b.clone(), s.clone());
        async move {
            // Partitioned at 0 s: turmoil drops the SYN, which fails the connect as refused.
            let e = http.initialize(&a).await.unwrap_err();
            seen.push(format!("partitioned: {}", matches!(e, Failure::Connect(_))));
            // `b` is held from 0 s to 2 s: the request completes right after the release.
            let r = http.initialize(&b).await.unwrap();
            seen.push(format!("held: {} at {:?}", r.status, now() >= secs(2)));
        }
    });
    // Partitions need both hosts; they exist once added.
    world.partition("a-pod-1").unwrap();
    world.hold("b-pod-1").unwrap();
    world.run_until(secs(2)).unwrap();
    world.release("b-pod-1").unwrap();
    world.repair("a-pod-1").unwrap();
    world.run_until(secs(3)).unwrap();
    assert_eq!(seen.all(), ["partitioned: true", "held: 200 OK at true"]);
}

#[test]
fn link_latency_is_applied() {
    let mut world = world(18);
    world.add_backend("a", PodBehaviour::Healthy).unwrap();
    let seen = client::<Duration, _, _>(&mut world, "a", |http, url, seen| async move {
        let t0 = now();
        http.initialize(&url).await.unwrap();
        seen.push(now() - t0);
    });
    world.set_link_latency("a-pod-1", ms(100)).unwrap();
    world.run_until(secs(2)).unwrap();
    // SYN, SYN-ACK is synchronous in turmoil (one way), then request and response: ≥ 3 × 100 ms.
    let took = seen.all()[0];
    assert!(took >= ms(300) && took < ms(400), "took {took:?}");
}

/// A small scenario with a replacement and faults; its observable results as a string.
fn scenario(seed: u64) -> (Vec<ConnectionRecord>, String) {
    let mut world = World::new(WorldConfig {
        seed,
        max_latency: ms(20),
        ..WorldConfig::default()
    });
    world.add_backend("a", PodBehaviour::Healthy).unwrap();
    world.add_backend("b", PodBehaviour::Slow(ms(300))).unwrap();
    let urls = [world.backend_url("a"), world.backend_url("b")];
    let conn = world.connector();
    let seen = Notes::<String>::default();
    let s = seen.clone();
    vmcp(&mut world, move || {
        let (conn, urls, seen) = (conn.clone(), urls.clone(), s.clone());
        async move {
            let pooled = Http::new(conn.clone());
            for round in 0..8u64 {
                for url in &urls {
                    let fresh = Http::new(conn.clone());
                    for http in [&pooled, &fresh] {
                        let r = tokio::time::timeout(secs(1), http.initialize(url)).await;
                        let what = match r {
                            Ok(Ok(r)) => format!("{} {}", r.status, r.pod()),
                            Ok(Err(e)) => format!("{e:?}"),
                            Err(_) => "timeout".to_owned(),
                        };
                        seen.push(format!("{:?} r{round} {url}: {what}", now()));
                    }
                }
                tokio::time::sleep(secs(1)).await;
            }
        }
    });
    world.run_until(secs(3)).unwrap();
    world
        .replace_pod(
            "a",
            PodBehaviour::Healthy,
            PodRetirement::Stale(PodBehaviour::Status {
                code: StatusCode::FORBIDDEN,
                only_initialize: false,
            }),
        )
        .unwrap();
    world.run_until(secs(5)).unwrap();
    world.hold("b-pod-1").unwrap();
    world.run_until(secs(7)).unwrap();
    world.release("b-pod-1").unwrap();
    world.run_until(secs(12)).unwrap();
    let stats = format!("{:?}", world.all_pod_stats());
    (
        world.connection_log().records(),
        format!("{}\n{stats}", seen.all().join("\n")),
    )
}

#[test]
fn same_seed_same_connection_log() {
    let (log1, seen1) = scenario(42);
    let (log2, seen2) = scenario(42);
    assert!(log1.len() >= 10, "{log1:?}");
    assert_eq!(log1, log2);
    assert_eq!(seen1, seen2);
    // The replaced pod kept answering the pooled connection.
    assert!(seen1.contains("403 Forbidden a-pod-1"), "{seen1}");
    assert!(seen1.contains("200 OK a-pod-2"), "{seen1}");
    // The seed matters: random latencies move the timestamps.
    let (log3, seen3) = scenario(43);
    assert!(
        log3 != log1 || seen3 != seen1,
        "seed 43 produced exactly seed 42's run"
    );
}

#[test]
fn sim_clock_reads_epoch_plus_simulated_time() {
    use vmcp_core::clock::Clock;
    let mut world = world(19);
    let clock = world.clock();
    let seen = Notes::<String>::default();
    let s = seen.clone();
    vmcp(&mut world, move || {
        let seen = s.clone();
        async move {
            sleep_until(ms(2500)).await;
            seen.push(clock.now().to_string());
        }
    });
    world.run_until(secs(3)).unwrap();
    assert_eq!(seen.all(), ["2026-01-01T00:00:02.500Z"]);
    // Outside any host the clock falls back to the epoch.
    assert_eq!(world.clock().now().to_string(), "2026-01-01T00:00:00.000Z");
}
