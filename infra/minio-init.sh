#!/bin/sh
# Run by the `minio-init` service with MinIO's root credentials: creates the bucket, a policy that
# allows only that bucket, and the app's user (S3_ACCESS_KEY_ID) with that policy. Idempotent.
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${S3_BUCKET:?}" "${S3_ACCESS_KEY_ID:?}" "${S3_SECRET_ACCESS_KEY:?}"
if [ "$S3_ACCESS_KEY_ID" = "$MINIO_ROOT_USER" ]; then
  echo "minio-init: S3_ACCESS_KEY_ID must differ from MINIO_ROOT_USER (the app must not use root)" >&2
  exit 1
fi
policy=capillary-app
mc alias set local http://minio:9000 "$MINIO_ROOT_USER" "$MINIO_ROOT_PASSWORD" >/dev/null
mc mb --ignore-existing "local/$S3_BUCKET"
policy_file=$(mktemp)
trap 'rm -f "$policy_file"' EXIT
cat > "$policy_file" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
      "Resource": ["arn:aws:s3:::$S3_BUCKET"]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
      "Resource": ["arn:aws:s3:::$S3_BUCKET/*"]
    }
  ]
}
JSON
# `create` replaces an existing policy of that name, so a changed bucket name takes effect.
mc admin policy create local "$policy" "$policy_file"
# `user add` on an existing user sets its secret again.
mc admin user add local "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY"
# Attaching a policy the user already has is an error in mc, hence the check (a shell match: the
# mc image has no grep).
case "$(mc admin user info local "$S3_ACCESS_KEY_ID")" in
  *"$policy"*) ;;
  *) mc admin policy attach local "$policy" --user "$S3_ACCESS_KEY_ID" ;;
esac
echo "minio-init: bucket $S3_BUCKET and user $S3_ACCESS_KEY_ID (policy $policy) ready"
