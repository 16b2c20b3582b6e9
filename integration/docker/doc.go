// Package docker runs freight's core guarantees against real Kafka and Redis
// servers: containers started with testcontainers-go (apache/kafka and
// redis), or the servers of a running docker-compose stack.
//
// Every test file carries the build tag docker, so the default suite and the
// freight binary never compile testcontainers-go:
//
//	go test -tags docker ./integration/docker/          # make integration-docker
//	make up && make integration-compose                 # against docker-compose.yml
//
// Without a Docker engine the tests skip with a one-line reason. With
// FREIGHT_IT_KAFKA_BROKERS (and FREIGHT_IT_REDIS_URL) set they start no
// containers and use those servers instead; FREIGHT_IT_COMPOSE=1 adds the
// checks of the compose stack's own services (freight, sandbox, producer).
package docker
