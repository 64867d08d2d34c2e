package provenance

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// inTotoPayloadType is the DSSE payload type of an in-toto statement.
const inTotoPayloadType = "application/vnd.in-toto+json"

// StatementFromBundle is the in-toto statement that a Sigstore bundle (as
// `cosign attest-blob --bundle` writes it) carries in its DSSE envelope. It
// does not verify the envelope's signature: cosign verify-blob-attestation
// does.
func StatementFromBundle(bundle []byte) ([]byte, error) {
	var b struct {
		DSSEEnvelope *struct {
			Payload     string `json:"payload"`
			PayloadType string `json:"payloadType"`
		} `json:"dsseEnvelope"`
	}
	if err := json.Unmarshal(bundle, &b); err != nil {
		return nil, fmt.Errorf("not a Sigstore bundle: %w", err)
	}
	if b.DSSEEnvelope == nil {
		return nil, fmt.Errorf("the bundle holds no DSSE envelope: it is a signature, not an attestation")
	}
	if b.DSSEEnvelope.PayloadType != inTotoPayloadType {
		return nil, fmt.Errorf("the envelope's payload is %q, want %q", b.DSSEEnvelope.PayloadType, inTotoPayloadType)
	}
	payload, err := base64.StdEncoding.DecodeString(b.DSSEEnvelope.Payload)
	if err != nil {
		return nil, fmt.Errorf("the envelope's payload is not base64: %w", err)
	}
	return payload, nil
}
