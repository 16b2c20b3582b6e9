package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Load reads the YAML file at path and returns the configuration it describes; see
// Parse.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return parse(data, os.LookupEnv)
}

// Parse returns the configuration described by a YAML document: Default, with the
// keys the document gives replacing the defaults (a given list replaces the default
// list), then the environment overlay (FREIGHT_KAFKA_BROKERS, FREIGHT_REDIS_URL,
// FREIGHT_CAPI_BASE_URL, FREIGHT_HTTP_LISTEN, FREIGHT_LOG_LEVEL; a variable that is
// unset or empty changes nothing), then Validate. An empty document is valid, and so
// is a key without a value (`redis:`): it keeps its default.
//
// A document that is not YAML gives a plain error. Every other problem, unknown keys,
// values of the wrong type and failed checks alike, is reported at once in a
// *ValidationError naming each key. On error the returned Config is the zero value.
func Parse(data []byte) (Config, error) {
	return parse(data, os.LookupEnv)
}

func parse(data []byte, lookupEnv func(string) (string, bool)) (Config, error) {
	root, err := parseYAML(data)
	if err != nil {
		return Config{}, err
	}
	cfg := Default()
	var d decoder
	if root != nil {
		d.decode("", root, reflect.ValueOf(&cfg).Elem())
	}
	fromEnv := overlayEnv(&cfg, lookupEnv)

	all := slices.Clone(d.problems)
	for _, p := range cfg.validate() {
		// A key that could not be decoded kept its default or zero value: checking it
		// would only repeat the problem in other words.
		if !coveredBy(p.Key, d.problems) {
			all = append(all, p)
		}
	}
	for i, p := range all {
		for key, name := range fromEnv {
			if under(p.Key, key) {
				all[i].Message += " (from " + name + ")"
			}
		}
	}
	if err := all.err(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// parseYAML returns the document's node, or nil for an empty document.
func parseYAML(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, fmt.Errorf("parse config: %w", err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
		return &doc, nil
	case err != nil:
		return nil, fmt.Errorf("parse config: %w", err)
	default:
		return nil, errors.New("parse config: more than one YAML document")
	}
}

// overlayEnv applies the FREIGHT_* variables to cfg and returns, for each key it
// changed, the variable that changed it.
func overlayEnv(cfg *Config, lookupEnv func(string) (string, bool)) map[string]string {
	from := make(map[string]string)
	get := func(name string) (string, bool) {
		v, ok := lookupEnv(name)
		v = strings.TrimSpace(v)
		return v, ok && v != ""
	}

	if v, ok := get("FREIGHT_KAFKA_BROKERS"); ok {
		var brokers []string
		for b := range strings.SplitSeq(v, ",") {
			if b = strings.TrimSpace(b); b != "" {
				brokers = append(brokers, b)
			}
		}
		if len(brokers) > 0 {
			cfg.Kafka.Brokers = brokers
			from["kafka.brokers"] = "FREIGHT_KAFKA_BROKERS"
		}
	}
	for _, o := range []struct {
		name, key string
		field     *string
	}{
		{"FREIGHT_REDIS_URL", "redis.url", &cfg.Redis.URL},
		{"FREIGHT_CAPI_BASE_URL", "capi.base_url", &cfg.CAPI.BaseURL},
		{"FREIGHT_HTTP_LISTEN", "http.listen", &cfg.HTTP.Listen},
		{"FREIGHT_LOG_LEVEL", "log.level", &cfg.Log.Level},
	} {
		if v, ok := get(o.name); ok {
			*o.field = v
			from[o.key] = o.name
		}
	}
	return from
}

// under reports whether key is prefix or lies inside it ("" holds every key).
func under(key, prefix string) bool {
	if prefix == "" || key == prefix {
		return true
	}
	rest, ok := strings.CutPrefix(key, prefix)
	return ok && (rest[0] == '.' || rest[0] == '[')
}

func coveredBy(key string, problems []Problem) bool {
	for _, p := range problems {
		if under(key, p.Key) {
			return true
		}
	}
	return false
}

// decoder decodes a YAML node tree into a value by its yaml tags, collecting a
// problem for every key it cannot take, and leaving such keys as they were.
//
// It walks our own types, which are not recursive, so the walk ends even when
// anchors and aliases make the node graph cyclic.
type decoder struct {
	problems
}

func (d *decoder) decode(key string, n *yaml.Node, v reflect.Value) {
	n = resolve(n)
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) > 0 {
			d.decode(key, n.Content[0], v)
		}
		return
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // no value: keep the default
	}
	switch {
	case v.Type() == reflect.TypeFor[time.Duration](), v.Type() == reflect.TypeFor[ByteSize]():
		d.scalar(key, n, v)
	case v.Kind() == reflect.Struct:
		d.mapping(key, n, v)
	case v.Kind() == reflect.Slice:
		d.list(key, n, v)
	default:
		d.scalar(key, n, v)
	}
}

func (d *decoder) mapping(key string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.add(key, "expected a mapping, found %s", describe(n))
		return
	}
	fields := make(map[string]int)
	for i := range v.NumField() {
		name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("yaml"), ",")
		fields[name] = i
	}
	seen := make(map[string]bool)
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			d.add(key, "expected a key name, found %s", describe(kn))
			continue
		}
		path := kn.Value
		if key != "" {
			path = key + "." + kn.Value
		}
		f, known := fields[kn.Value]
		switch {
		case kn.ShortTag() == "!!merge":
			d.add(path, "merge keys are not supported")
		case !known:
			d.add(path, "unknown key")
		case seen[kn.Value]:
			d.add(path, "duplicate key")
		default:
			seen[kn.Value] = true
			d.decode(path, vn, v.Field(f))
		}
	}
}

func (d *decoder) list(key string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.add(key, "expected a list, found %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		e := s.Index(i)
		if e.Type() == reflect.TypeFor[Topic]() {
			e.Set(reflect.ValueOf(Topic{Format: FormatJSON}))
		}
		d.decode(fmt.Sprintf("%s[%d]", key, i), item, e)
	}
	v.Set(s)
}

func (d *decoder) scalar(key string, n *yaml.Node, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.add(key, "expected a single value, found %s", describe(n))
		return
	}
	s := n.Value
	switch {
	case v.Type() == reflect.TypeFor[time.Duration]():
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.add(key, "cannot parse %q as a duration (like 1s, 5m or 48h)", s)
			return
		}
		v.SetInt(int64(dur))
	case v.Type() == reflect.TypeFor[ByteSize]():
		b, err := ParseByteSize(s)
		if err != nil {
			d.add(key, "cannot parse %q as a size (like 128MiB, 64MB or 1048576)", s)
			return
		}
		v.SetInt(int64(b))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Int:
		i, err := strconv.ParseInt(s, 10, 0)
		if err != nil {
			d.add(key, "cannot parse %q as an integer", s)
			return
		}
		v.SetInt(i)
	case v.Kind() == reflect.Bool:
		switch strings.ToLower(s) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			d.add(key, "cannot parse %q as a boolean (true or false)", s)
		}
	default:
		d.add(key, "cannot decode into %s", v.Type())
	}
}

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	default:
		return "nothing usable"
	}
}
