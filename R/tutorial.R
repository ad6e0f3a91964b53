# The exercise checker of the learnr tutorials in inst/tutorials (issue 22). learnr calls
# it with the learner's code and the exercise's `-solution` chunk; the answer is correct
# when the value of the learner's code equals the value of the solution, evaluated in
# the same prepared environment, to a relative tolerance of 1e-6. A `-check` chunk, when
# present, may give the tolerance as `tolerance <- ...` and a hint as `hint <- "..."`.
tutorial_check <- function(label = NULL, user_code = NULL, solution_code = NULL,
                           check_code = NULL, envir_result = NULL, evaluate_result = NULL,
                           envir_prep = NULL, last_value = NULL, stage = NULL, ...) {
  if (!is.null(stage) && stage != "check") return(NULL)
  opts <- new.env()
  opts$tolerance <- 1e-6
  opts$hint <- "Compare your call with the text above the exercise."
  if (length(check_code) && any(nzchar(check_code))) {
    eval(parse(text = check_code), opts)
  }
  if (!length(solution_code) || !any(nzchar(solution_code))) {
    return(list(message = "This exercise has no stored answer.", correct = TRUE,
                location = "append"))
  }
  env <- if (is.environment(envir_prep)) new.env(parent = envir_prep) else new.env()
  want <- tryCatch(withVisible(eval(parse(text = solution_code), env))$value,
                   error = function(e) e)
  if (inherits(want, "error")) {
    return(list(message = paste("The stored answer failed:", conditionMessage(want)),
                correct = FALSE, location = "append"))
  }
  got <- last_value
  same <- isTRUE(all.equal(unclass(got), unclass(want), tolerance = opts$tolerance,
                           check.attributes = FALSE))
  list(message = if (same) "Correct!" else paste("Not yet.", opts$hint),
       correct = same, location = "append")
}
