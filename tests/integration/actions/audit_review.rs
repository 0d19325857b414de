//! The review of the app's audit trail: the brute force, the success that followed, no secret shown.

use serde_json::Value;

use crate::testbed::{psql, testbed, variant};

#[tokio::test]
async fn the_audit_trail_shows_the_brute_force_and_the_success_that_followed() {
    let v = variant("audit", |t| t).await;
    // Two successes alike in everything (same IP, user and instant, as a bulk import
    // writes them) after two failures: two rows, two failures before each.
    let ip = crate::testbed::unique_test_ip();
    psql(
        "sandbox",
        "INSERT INTO audit_logs (user_id, action, ip_address, created_at)
         SELECT u.id, a.action, :'ip'::inet, now() - a.ago
           FROM users u, (VALUES ('login.failure', interval '20 minutes'),
                                 ('login.failure', interval '15 minutes'),
                                 ('login.success', interval '10 minutes'),
                                 ('login.success', interval '10 minutes')) AS a(action, ago)
          WHERE u.username = 'bob'",
        &[("ip", &ip)],
    );
    let ip = psql("sandbox", "SELECT host(:'ip'::inet)", &[("ip", &ip)]); // as PostgreSQL writes it
    let r = v.engine.audit_review(&v.name, 7 * 86400).await.unwrap();
    let twins: Vec<_> = r.success_after_failures.iter().filter(|s| s.ip == ip).collect();
    assert_eq!(twins.len(), 2, "{:?}", r.success_after_failures);
    assert!(
        twins.iter().all(|s| s.failures_before == 2 && s.user == "bob"),
        "{twins:?}"
    );
    let top: Vec<&str> = r.failed_by_ip.iter().take(2).map(|f| f.ip.as_str()).collect();
    assert!(
        top.contains(&"203.0.113.7") && top.contains(&"198.51.100.23"),
        "{:?}",
        r.failed_by_ip
    );
    let after = r
        .success_after_failures
        .iter()
        .find(|s| s.ip == "203.0.113.7")
        .expect("mallory's success after failures");
    assert_eq!(after.user, "mallory");
    assert_eq!(
        after.failures_before, 60,
        "the seeded burst: 60 failures in the 12 minutes before"
    );
    assert!(r.admin_actions.iter().all(|e| e.action.starts_with("admin.")) && !r.admin_actions.is_empty());
    assert!(r.new_tokens.iter().any(|e| e.user == "alice"));
    assert!(r.timeline.iter().map(|b| b.failures).sum::<i64>() > 0);
    let json: Value = serde_json::to_value(&r).unwrap();
    testbed().assert_no_secret_in(
        &testbed().secret_values(),
        json.to_string().as_bytes(),
        "the audit review",
    );
}
