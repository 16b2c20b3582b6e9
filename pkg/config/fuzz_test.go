package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse checks that no document makes Parse panic, that an error always says
// something, and that what Parse accepts, Validate accepts too.
func FuzzParse(f *testing.F) {
	contract, err := os.ReadFile("testdata/contract.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(contract),
		"",
		"kafka:\n  topcs: []\n",
		"kafka:\n  topics:\n    - {name: a, kind: web, format: confluent-avro}\n",
		"kafka:\n  topics:\n    - {name: a, kind: crm, format: confluent-avro}\n  schema_registry: {url: 'https://r:8081', username: u, password_env: P, tls: {ca_file: /ca}}\n",
		"batch: {max_events: abc}\n",
		"capi:\n  pixels:\n    - &p {id: '1', access_token_env: T}\n    - *p\n",
		"kafka: &k\n  tls: *k\n",
		"- a\n- b\n",
		"kafka: [\n",
		"a: 1\n---\nb: 2\n",
		"<<: {kafka: {}}\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse(data, noEnv)
		if err == nil {
			if verr := cfg.Validate(); verr != nil {
				t.Fatalf("parse accepted a config that Validate refuses: %v", verr)
			}
			return
		}
		if err.Error() == "" {
			t.Fatal("error with an empty message")
		}
		var verr *ValidationError
		if errors.As(err, &verr) {
			if len(verr.Problems) == 0 {
				t.Fatal("*ValidationError without problems")
			}
			for _, p := range verr.Problems {
				if p.Message == "" {
					t.Fatalf("problem %q without a message", p.Key)
				}
			}
		}
	})
}
