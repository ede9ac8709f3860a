//! Pods in the shared pod host: each answers as its own pod (sessions, behaviour, stats) through
//! its service name, and the faults a shared host cannot apply to one pod are refused.

mod support;

use std::time::Duration;

use http::StatusCode;
use support::{client, sleep_until, without_session_suffix};
use vmcp_sim::{PodBehaviour, PodRetirement, World, WorldConfig, WorldError};

#[test]
fn shared_pods_answer_as_themselves_and_keep_their_own_behaviour() {
    let mut world = World::new(WorldConfig::default());
    let a = world
        .add_shared_backend("a", 8080, PodBehaviour::Healthy)
        .unwrap();
    let b = world
        .add_shared_backend(
            "b",
            8080,
            PodBehaviour::Status {
                code: StatusCode::SERVICE_UNAVAILABLE,
                only_initialize: false,
            },
        )
        .unwrap();
    let own = world.add_backend("own", PodBehaviour::Healthy).unwrap();
    assert!(world.is_shared_pod(&a) && world.is_shared_pod(&b) && !world.is_shared_pod(&own));
    let b_url = world.backend_url("b");
    let seen = client(&mut world, "a", move |http, a_url, notes| {
        let b_url = b_url.clone();
        async move {
            let a = http.initialize(&a_url).await.unwrap();
            notes.push((a.status, a.pod(), a.session()));
            let b = http.initialize(&b_url).await.unwrap();
            notes.push((b.status, b.pod(), b.session()));
            // The world switches `b` to healthy at 5 s.
            sleep_until(Duration::from_secs(6)).await;
            let b = http.initialize(&b_url).await.unwrap();
            notes.push((b.status, b.pod(), b.session()));
        }
    });
    world.run_until(Duration::from_secs(5)).unwrap();
    world.set_behaviour(&b, PodBehaviour::Healthy).unwrap();
    world.run_until(Duration::from_secs(10)).unwrap();
    assert_eq!(
        seen.all()
            .into_iter()
            .map(|(status, pod, session)| (
                status,
                pod,
                session.map(|id| without_session_suffix(&id))
            ))
            .collect::<Vec<_>>(),
        [
            (
                StatusCode::OK,
                "a-pod-1".to_owned(),
                Some("a-pod-1-s1".to_owned())
            ),
            (StatusCode::SERVICE_UNAVAILABLE, "b-pod-1".to_owned(), None),
            (
                StatusCode::OK,
                "b-pod-1".to_owned(),
                Some("b-pod-1-s1".to_owned())
            ),
        ]
    );
    assert_eq!(world.pod_stats(&a).unwrap().connections_accepted, 1);
    // The client's pool kept `b`'s connection for the second request.
    assert_eq!(world.pod_stats(&b).unwrap().connections_accepted, 1);
    assert_eq!(world.pod_stats(&own).unwrap().connections_accepted, 0);
    assert!(world.is_pod_running(&a).unwrap());
}

#[test]
fn host_and_link_faults_are_refused_for_a_shared_pod() {
    let mut world = World::new(WorldConfig::default());
    let pod = world
        .add_shared_backend("a", 8080, PodBehaviour::Healthy)
        .unwrap();
    world.add_vmcp_host(|| async { Ok(()) }).unwrap();
    let refused = |r: Result<_, WorldError>| matches!(r, Err(WorldError::SharedPod { .. }));
    assert!(refused(world.crash_pod(&pod)));
    assert!(refused(world.restart_pod(&pod)));
    assert!(refused(world.partition(&pod)));
    assert!(refused(world.hold(&pod)));
    assert!(refused(
        world.set_link_latency(&pod, Duration::from_millis(3))
    ));
    assert!(refused(
        world
            .replace_pod("a", PodBehaviour::Healthy, PodRetirement::Terminate)
            .map(|_| ())
    ));
    // Nothing changed: the refused replacement added no pod.
    assert_eq!(world.backend_pods("a").unwrap(), std::slice::from_ref(&pod));
    // A stale replacement stays inside the shared host.
    let new = world
        .replace_pod(
            "a",
            PodBehaviour::Healthy,
            PodRetirement::Stale(PodBehaviour::Status {
                code: StatusCode::NOT_FOUND,
                only_initialize: false,
            }),
        )
        .unwrap();
    assert!(world.is_shared_pod(&new));
}

/// Past 100 pods a second shared host is opened (each turmoil link's in-flight queue stays
/// short); its pods answer as themselves like those of the first.
#[test]
fn pods_past_the_first_shared_host_answer_as_themselves() {
    let mut world = World::new(WorldConfig::default());
    let pods: Vec<String> = (0..101)
        .map(|i| {
            world
                .add_shared_backend(&format!("b{i}"), 8080, PodBehaviour::Healthy)
                .unwrap()
        })
        .collect();
    let first_url = world.backend_url("b0");
    let seen = client(&mut world, "b100", move |http, last_url, notes| {
        let first_url = first_url.clone();
        async move {
            for url in [&first_url, &last_url] {
                let reply = http.initialize(url).await.unwrap();
                notes.push((reply.status, reply.pod()));
            }
        }
    });
    world.run_until(Duration::from_secs(5)).unwrap();
    assert_eq!(
        seen.all(),
        [
            (StatusCode::OK, "b0-pod-1".to_owned()),
            (StatusCode::OK, "b100-pod-1".to_owned())
        ]
    );
    for pod in [&pods[0], &pods[99], &pods[100]] {
        assert!(world.is_shared_pod(pod));
        assert!(world.is_pod_running(pod).unwrap(), "{pod}");
    }
    assert_eq!(world.pod_stats(&pods[100]).unwrap().connections_accepted, 1);
    assert_eq!(world.pod_stats(&pods[50]).unwrap().connections_accepted, 0);
}
