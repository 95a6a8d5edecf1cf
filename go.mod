module github.com/outcomes/outcomes

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/google/differential-privacy/go/v3 v3.0.0
	github.com/robfig/cron/v3 v3.0.1
)

require (
	github.com/golang/glog v1.2.0 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
)
