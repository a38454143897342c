# Envelope encryption of integration credentials: the admin function wraps a fresh data key with
# this key when an org sets up an integration; the execute function unwraps it to run a pipeline.

resource "google_kms_key_ring" "credentials" {
  name     = "${var.name_prefix}-credentials"
  location = var.region

  depends_on = [google_project_service.enabled]
}

resource "google_kms_crypto_key" "credentials" {
  name     = "integration-credentials"
  key_ring = google_kms_key_ring.credentials.id
  purpose  = "ENCRYPT_DECRYPT"

  # New versions wrap new credentials; older versions remain to unwrap what they wrapped.
  rotation_period = var.kms_key_rotation_period

  version_template {
    algorithm        = "GOOGLE_SYMMETRIC_ENCRYPTION"
    protection_level = var.kms_protection_level
  }

  lifecycle {
    # Destroying the key makes every stored credential unreadable, for good.
    prevent_destroy = true
  }
}

# Each side gets only its half: admin encrypts, execute decrypts. Neither needs the combined
# cryptoKeyEncrypterDecrypter role; submit, status and the scheduler get nothing.
resource "google_kms_crypto_key_iam_member" "admin_encrypts_credentials" {
  crypto_key_id = google_kms_crypto_key.credentials.id
  role          = "roles/cloudkms.cryptoKeyEncrypter"
  member        = google_service_account.function["admin"].member
}

resource "google_kms_crypto_key_iam_member" "execute_decrypts_credentials" {
  crypto_key_id = google_kms_crypto_key.credentials.id
  role          = "roles/cloudkms.cryptoKeyDecrypter"
  member        = google_service_account.function["execute"].member
}
