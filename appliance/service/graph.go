package service

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// buildUnits validates specs and returns one unit per service in
// dependency order: every service after all of its dependencies, ties in
// declaration order. All problems found are reported, joined.
func buildUnits(specs []Spec) ([]*unit, error) {
	var errs []error
	byName := make(map[string]int, len(specs))
	units := make([]*unit, len(specs))
	for i, s := range specs {
		if s.Service == nil {
			errs = append(errs, fmt.Errorf("spec %d: %w: nil Service", i, ErrInvalidSpec))
			continue
		}
		name := s.Service.Name()
		switch _, dup := byName[name]; {
		case name == "":
			errs = append(errs, fmt.Errorf("spec %d: %w: empty name", i, ErrInvalidSpec))
			continue
		case dup:
			errs = append(errs, fmt.Errorf("%w: %q declared twice", ErrDuplicateService, name))
			continue
		}
		if err := s.withDefaults().validate(); err != nil {
			errs = append(errs, fmt.Errorf("service %s: %w: %w", name, ErrInvalidSpec, err))
		}
		byName[name] = i
		units[i] = newUnit(name, s.withDefaults())
	}
	for _, u := range units {
		if u == nil {
			continue
		}
		for _, d := range u.spec.Deps {
			j, ok := byName[d]
			if !ok {
				errs = append(errs, fmt.Errorf("%w: %s depends on %q, which is not in the tree", ErrUnknownDependency, u.name, d))
				continue
			}
			if !slices.Contains(u.deps, units[j]) {
				u.deps = append(u.deps, units[j])
				u.depNames = append(u.depNames, d)
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("service tree: %w", errors.Join(errs...))
	}
	if cycle := findCycle(units); cycle != nil {
		return nil, fmt.Errorf("service tree: %w: %s", ErrDependencyCycle, strings.Join(cycle, " -> "))
	}
	return dependencyOrder(units), nil
}

// findCycle returns the names along one dependency cycle, first name
// repeated at the end ("a -> b -> a"), or nil.
func findCycle(units []*unit) []string {
	const (
		unvisited = iota
		onPath
		done
	)
	mark := make(map[*unit]int, len(units))
	var path []*unit
	var visit func(u *unit) []string
	visit = func(u *unit) []string {
		mark[u] = onPath
		path = append(path, u)
		for _, d := range u.deps {
			switch mark[d] {
			case onPath:
				var names []string
				for _, p := range path[slices.Index(path, d):] {
					names = append(names, p.name)
				}
				return append(names, d.name)
			case unvisited:
				if c := visit(d); c != nil {
					return c
				}
			}
		}
		path = path[:len(path)-1]
		mark[u] = done
		return nil
	}
	for _, u := range units {
		if mark[u] == unvisited {
			if c := visit(u); c != nil {
				return c
			}
		}
	}
	return nil
}

// dependencyOrder sorts an acyclic graph: repeatedly the first unit, in
// declaration order, whose dependencies are all placed.
func dependencyOrder(units []*unit) []*unit {
	placed := make(map[*unit]bool, len(units))
	order := make([]*unit, 0, len(units))
	for len(order) < len(units) {
		for _, u := range units {
			if placed[u] {
				continue
			}
			if !slices.ContainsFunc(u.deps, func(d *unit) bool { return !placed[d] }) {
				placed[u] = true
				order = append(order, u)
				break
			}
		}
	}
	return order
}
