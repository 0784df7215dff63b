package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Listen opens the API's listeners: the Unix socket (replacing a stale
// one) and, when tcpAddr is not empty, TCP. On error nothing stays open.
func Listen(socket, tcpAddr string) ([]net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(socket), 0o750); err != nil {
		return nil, fmt.Errorf("api socket: %w", err)
	}
	if err := os.Remove(socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("api socket: remove stale %s: %w", socket, err)
	}
	ul, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("api socket: %w", err)
	}
	if err := os.Chmod(socket, 0o660); err != nil {
		ul.Close()
		return nil, fmt.Errorf("api socket: %w", err)
	}
	ls := []net.Listener{ul}
	if tcpAddr != "" {
		tl, err := net.Listen("tcp", tcpAddr)
		if err != nil {
			ul.Close()
			return nil, fmt.Errorf("api listen %s: %w", tcpAddr, err)
		}
		ls = append(ls, tl)
	}
	return ls, nil
}

// Serve serves h on every listener until ctx is done, then shuts the
// servers down gracefully (in-flight requests get a few seconds).
func Serve(ctx context.Context, ls []net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, len(ls))
	for _, l := range ls {
		go func() { errc <- srv.Serve(l) }()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		err = fmt.Errorf("api: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return err
}
