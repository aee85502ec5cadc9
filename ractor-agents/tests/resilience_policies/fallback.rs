//! Fallback chains: order, the fall-through predicate, the error that lists every step, the layer.

use super::*;

#[tokio::test]
async fn fallback_tries_steps_in_order_and_the_first_success_answers() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let step = |name: &'static str, answer: Result<u32, CallError>| {
        let order = order.clone();
        move || async move {
            order.lock().unwrap().push(name);
            answer
        }
    };
    let answer = Fallback::new("f")
        .step("primary", step("primary", Err(CallError::Transient)))
        .step("secondary", step("secondary", Err(CallError::Transient)))
        .step("cache", step("cache", Ok(3)))
        .step("default", step("default", Ok(0)))
        .run()
        .await;
    assert_eq!(answer.unwrap(), 3);
    assert_eq!(*order.lock().unwrap(), ["primary", "secondary", "cache"]);
}

#[tokio::test]
async fn an_error_the_predicate_rejects_ends_the_fallback_chain_and_the_error_lists_every_step() {
    let ran_second = Arc::new(AtomicBool::new(false));
    let flag = ran_second.clone();
    let stopped = Fallback::new("f")
        .step("primary", || async { Err::<u32, _>(CallError::Permanent) })
        .step("secondary", move || async move {
            flag.store(true, Ordering::SeqCst);
            Ok(1)
        })
        .falls_through_when(|e| *e == CallError::Transient)
        .run()
        .await
        .unwrap_err();
    assert!(stopped.stopped_early);
    assert_eq!(stopped.failures.len(), 1);
    assert!(!ran_second.load(Ordering::SeqCst));

    let exhausted: FallbackError<CallError> = Fallback::new("f")
        .step("primary", || async { Err::<u32, _>(CallError::Transient) })
        .step("secondary", || async { Err(CallError::Throttled(ms(5))) })
        .run()
        .await
        .unwrap_err();
    let steps: Vec<_> = exhausted.failures.iter().map(|f| (f.step, f.error.clone())).collect();
    assert_eq!(steps, [("primary", CallError::Transient), ("secondary", CallError::Throttled(ms(5)))]);
    let message = exhausted.to_string();
    assert!(message.contains("`primary` failed: transient failure"), "{message}");
    assert!(message.contains("`secondary` failed: throttled for 5ms"), "{message}");
}

#[tokio::test]
async fn the_fallback_layer_calls_the_secondary_service_when_the_primary_fails() {
    let secondary = service_fn(|n: u32| async move { Ok::<_, CallError>(n + 100) });
    let primary = service_fn(|n: u32| async move { if n == 0 { Err(CallError::Transient) } else { Ok(n) } });
    let mut service = ServiceBuilder::new().layer(FallbackLayer::new("f", secondary)).service(primary);
    assert_eq!(service.ready().await.unwrap().call(7).await.unwrap(), 7);
    assert_eq!(service.ready().await.unwrap().call(0).await.unwrap(), 100);

    let broken = service_fn(|_: u32| async { Err::<u32, _>(CallError::Permanent) });
    let mut both_fail = ServiceBuilder::new().layer(FallbackLayer::new("f", broken)).service(broken);
    let error = both_fail.ready().await.unwrap().call(1).await.unwrap_err();
    let error = error.downcast::<FallbackError<BoxError>>().unwrap();
    let steps: Vec<_> = error.failures.iter().map(|f| (f.step, f.error.to_string())).collect();
    assert_eq!(steps, [("primary", "permanent failure".to_owned()), ("secondary", "permanent failure".to_owned())]);
}
