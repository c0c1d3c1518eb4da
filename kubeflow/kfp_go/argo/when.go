package argo

import (
	"fmt"

	"github.com/Knetic/govaluate"
)

// shouldExecute: workflow/controller/steps.go:375-412 (unexported there), verbatim in effect: an
// empty `when` runs; otherwise govaluate, with every bare word taken as a string.
func shouldExecute(when string) (bool, error) {
	if when == "" {
		return true, nil
	}
	expression, err := govaluate.NewEvaluableExpression(when)
	if err != nil {
		return false, err
	}
	tokens := expression.Tokens()
	for i, token := range tokens {
		if token.Kind == govaluate.VARIABLE {
			token.Kind = govaluate.STRING
			tokens[i] = token
		}
	}
	expression, err = govaluate.NewEvaluableExpressionFromTokens(tokens)
	if err != nil {
		return false, err
	}
	result, err := expression.Evaluate(nil)
	if err != nil {
		return false, err
	}
	ok, isBool := result.(bool)
	if !isBool {
		return false, fmt.Errorf("expected boolean evaluation for '%s'. Got %v", when, result)
	}
	return ok, nil
}
