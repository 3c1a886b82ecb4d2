//! Seeding the emulators for the benches: an S3 client for moto, and many objects put
//! at once.

use std::sync::Arc;

use anyhow::Result;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .endpoint_url(endpoint)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// Runs `put(key)` for every key, 64 at a time.
pub async fn put_all<F, Fut>(keys: &Arc<Vec<String>>, put: F) -> Result<()>
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<()>> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(64));
    let mut tasks = JoinSet::new();
    for key in keys.iter() {
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let work = put(key.clone());
        tasks.spawn(async move {
            let result = work.await;
            drop(permit);
            result
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

pub async fn seed_s3(s3: &aws_sdk_s3::Client, bucket: &str, keys: &Arc<Vec<String>>) -> Result<()> {
    s3.create_bucket().bucket(bucket).send().await?;
    put_all(keys, |key| {
        let (s3, bucket) = (s3.clone(), bucket.to_owned());
        async move {
            s3.put_object()
                .bucket(bucket)
                .key(&key)
                .body(key.into_bytes().into())
                .send()
                .await?;
            Ok(())
        }
    })
    .await
}
