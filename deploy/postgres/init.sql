-- relayflow's own database (templates, triggers, deliveries), beside Temporal's.
CREATE USER relayflow WITH PASSWORD 'relayflow';
CREATE DATABASE relayflow OWNER relayflow;
