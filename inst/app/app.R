# The teaching app of advtrain: started by advtrain::adv_app().
# Every computation comes from the package (adv_optimum, adv_lm, adv_lasso,
# simulate_linear) through small internal wrappers, cached by their inputs.
library(shiny)
library(advtrain)
ns <- asNamespace("advtrain")
app_tradeoff <- get("app_tradeoff", ns)
app_training <- get("app_training", ns)
app_interpolation <- get("app_interpolation", ns)
app_read_csv <- get("app_read_csv", ns)
app_check_data <- get("app_check_data", ns)
app_fit_data <- get("app_fit_data", ns)
app_code <- get("app_code", ns)
adv_threads(1)

builtin <- c("mtcars", "swiss", "trees", "stackloss", "LifeCycleSavings", "airquality")

ui <- navbarPage(
  "advtrain: adversarial training of linear models", id = "tabs",
  tabPanel("Trade-off", value = "tradeoff",
    sidebarLayout(
      sidebarPanel(
        sliderInput("t_eps", "attack strength eps", 0, 3, 0.5, step = 0.05),
        sliderInput("t_d", "dimension d", 2, 20, 5, step = 1),
        sliderInput("t_rho", "AR(1) correlation rho", 0, 0.8, 0.5, step = 0.1),
        sliderInput("t_sigma2", "noise variance sigma^2", 0.1, 4, 1, step = 0.1),
        radioButtons("t_norm", "attack norm", c("L2" = "l2", "L-infinity" = "linf"), inline = TRUE),
        helpText("Proposition 1 (eqs. 5 and 9): theta*(eps) minimises the population",
                 "adversarial risk; theta0_j = 2 * 0.7^(j-1), Sigma_jk = rho^|j-k|.")
      ),
      mainPanel(
        fluidRow(column(6, plotOutput("t_risk", height = 340)),
                 column(6, plotOutput("t_path", height = 340))),
        verbatimTextOutput("t_info")
      ))),
  tabPanel("Training", value = "training",
    sidebarLayout(
      sidebarPanel(
        sliderInput("g_eps", "attack strength eps", 0, 3, 0.5, step = 0.05),
        sliderInput("g_xi", "smoothing xi (0 = true attack)", 0, 0.5, 0.1, step = 0.01),
        selectInput("g_eta", "step size eta", c(0.0005, 0.001, 0.005, 0.01, 0.02), 0.01),
        sliderInput("g_n", "sample size n", 50, 1000, 200, step = 50),
        radioButtons("g_norm", "attack norm", c("L2" = "l2", "L-infinity" = "linf"), inline = TRUE),
        helpText("Algorithm 1 on simulate_linear(n, rep(1, 5)), 300 steps from 0.",
                 "Try eps = 3 with xi = 0 (oscillates) and xi = 0.05, eta = 0.0005 (smooth).")
      ),
      mainPanel(
        fluidRow(column(6, plotOutput("g_loss", height = 340)),
                 column(6, plotOutput("g_risk", height = 340))),
        verbatimTextOutput("g_info")
      ))),
  tabPanel("Interpolation", value = "interpolation",
    sidebarLayout(
      sidebarPanel(
        sliderInput("i_n", "sample size n", 10, 50, 20, step = 5),
        sliderInput("i_d", "dimension d", 100, 1000, 400, step = 100),
        sliderInput("i_eps", "attack strength eps", 0, 0.3, 0.1, step = 0.01),
        helpText("Theorem 5 (Figure 3): n < d, theta0 = ten ones then zeros, v^2 = 11;",
                 "1000 steps of Algorithm 1 with xi = 0.5, eta = 0.001.")
      ),
      mainPanel(
        fluidRow(column(6, plotOutput("i_loss", height = 340)),
                 column(6, plotOutput("i_risk", height = 340))),
        verbatimTextOutput("i_info")
      ))),
  tabPanel("Your data", value = "data",
    sidebarLayout(
      sidebarPanel(
        radioButtons("d_source", "data", c("built-in data set" = "builtin", "upload a CSV" = "upload")),
        conditionalPanel("input.d_source == 'builtin'",
                         selectInput("d_builtin", "data set", builtin, "mtcars")),
        conditionalPanel("input.d_source == 'upload'",
                         fileInput("d_file", "CSV file (header row, numeric columns)", accept = ".csv")),
        uiOutput("d_response_ui"),
        radioButtons("d_method", "fit", c("adv_lm (exact)" = "adv_lm", "adv_lasso (middle lambda)" = "adv_lasso")),
        radioButtons("d_norm", "attack norm", c("L2" = "l2", "L-infinity" = "linf"), inline = TRUE),
        sliderInput("d_epsmax", "largest eps", 0.1, 3, 1, step = 0.1),
        downloadButton("d_download", "R code for this plot")
      ),
      mainPanel(
        uiOutput("d_message"),
        plotOutput("d_path", height = 380),
        tableOutput("d_table")
      )))
)

server <- function(input, output, session) {
  # ---- trade-off ----
  opt <- reactive(app_tradeoff(input$t_d, input$t_rho, input$t_sigma2, input$t_norm)) |>
    bindCache(input$t_d, input$t_rho, input$t_sigma2, input$t_norm)
  at_eps <- reactive(suppressWarnings(advtrain::adv_optimum(advtrain:::app_theta0(input$t_d), input$t_eps,
                                           advtrain:::ar1_sigma(input$t_d, input$t_rho),
                                           input$t_sigma2, input$t_norm)))
  output$t_risk <- renderPlot({
    o <- opt()
    plot(o)
    points(input$t_eps, at_eps()$risk, pch = 19)
    points(input$t_eps, at_eps()$std_risk, pch = 19, col = "firebrick")
  })
  output$t_path <- renderPlot({
    o <- opt()
    matplot(o$eps, t(o$theta), type = "l", lty = 1, lwd = 2, col = seq_len(nrow(o$theta)),
            xlab = expression(epsilon), ylab = expression(theta^"*" * (epsilon)),
            main = "Coefficients of theta*(eps)")
    abline(v = o$eps_c, lty = 3, col = "grey40")
    abline(v = input$t_eps, col = "grey70")
    mtext(sprintf("eps_c = %.3f", o$eps_c), side = 3, line = 0.2, cex = 0.85)
  })
  output$t_info <- renderText({
    a <- at_eps()
    notes <- opt()$notes
    paste0(if (length(notes)) paste0("Note: ", notes[1], "\n"), sprintf("eps = %.2f: R* = %.4f, standard risk of theta* = %.4f, nonzero = %d of %d, eps_c = %.4f\ntheta* = %s",
            input$t_eps, a$risk, a$std_risk, sum(a$theta != 0), nrow(a$theta), a$eps_c,
            paste(round(a$theta, 3), collapse = " ")))
  })

  # ---- training ----
  tr <- reactive(app_training(input$g_eps, input$g_xi, as.numeric(input$g_eta), input$g_n,
                              norm = input$g_norm)) |>
    bindCache(input$g_eps, input$g_xi, input$g_eta, input$g_n, input$g_norm)
  tr_safe <- reactive(tryCatch(tr(), error = function(e) conditionMessage(e)))
  output$g_loss <- renderPlot({
    r <- tr_safe()
    validate(need(!is.character(r), paste("Training stopped:", r)))
    t <- r$trace
    matplot(t$iter, cbind(t$loss_surrogate, t$loss_adv), type = "l", lty = c(1, 2), lwd = 2,
            col = c("steelblue", "black"), log = "y", xlab = "step", ylab = "training loss",
            main = "Surrogate and true adversarial training loss")
    legend("topright", c("surrogate (xi)", "true (xi = 0)"), lty = c(1, 2),
           col = c("steelblue", "black"), bty = "n")
  })
  output$g_risk <- renderPlot({
    r <- tr_safe()
    validate(need(!is.character(r), ""))
    t <- r$trace
    plot(t$iter, t$risk_adv, type = "l", lwd = 2, log = "y", xlab = "step",
         ylab = "population adversarial risk", main = "Population risk against R*",
         ylim = range(c(t$risk_adv, r$R_star), finite = TRUE))
    abline(h = r$R_star, lty = 2, col = "firebrick")
    legend("topright", c("R(theta_t, eps)", "R*(eps)"), lty = 1:2,
           col = c("black", "firebrick"), bty = "n")
  })
  output$g_info <- renderText({
    r <- tr_safe()
    if (is.character(r)) return(r)
    t <- r$trace
    sprintf("after %d steps (eta = %g): surrogate loss %.4f, true loss %.4f, risk %.4f, R* = %.4f\nlargest rise of the surrogate loss after step 1: %.2g",
            max(t$iter), r$fit$eta, tail(t$loss_surrogate, 1), tail(t$loss_adv, 1),
            tail(t$risk_adv, 1), r$R_star, max(c(0, diff(t$loss_surrogate[-1]))))
  })

  # ---- interpolation ----
  ip <- reactive(app_interpolation(input$i_n, input$i_d, input$i_eps)) |>
    bindCache(input$i_n, input$i_d, input$i_eps)
  output$i_loss <- renderPlot({
    t <- ip()$trace
    plot(t$iter, t$loss_surrogate, type = "l", lwd = 2, log = "y", xlab = "step",
         ylab = "adversarial training loss", main = "Training loss falls to 0")
  })
  output$i_risk <- renderPlot({
    r <- ip()
    t <- r$trace
    plot(t$iter, t$risk_adv, type = "l", lwd = 2, xlab = "step",
         ylab = "population adversarial risk", main = "Risk stays near v^2",
         ylim = c(0, max(t$risk_adv, r$v2) * 1.1))
    abline(h = r$v2, lty = 2, col = "firebrick")
    legend("bottomright", c("R(theta_t, eps)", "v^2"), lty = 1:2,
           col = c("black", "firebrick"), bty = "n")
  })
  output$i_info <- renderText({
    r <- ip()
    t <- r$trace
    sprintf("n = %d, d = %d: training loss %.3g -> %.3g; risk at the end %.3f (v^2 = %g)",
            input$i_n, input$i_d, t$loss_surrogate[1], tail(t$loss_surrogate, 1),
            tail(t$risk_adv, 1), r$v2)
  })

  # ---- your data ----
  data_in <- reactive({
    if (input$d_source == "builtin") {
      app_check_data(get(input$d_builtin, asNamespace("datasets")))
    } else {
      f <- input$d_file
      if (is.null(f)) return("Choose a CSV file to upload.")
      app_read_csv(f$datapath)
    }
  })
  output$d_message <- renderUI({
    d <- data_in()
    if (is.character(d)) {
      div(class = "alert alert-warning", id = "d_error", role = "alert", d)
    }
  })
  output$d_response_ui <- renderUI({
    d <- data_in()
    if (is.character(d)) return(NULL)
    selectInput("d_response", "response", names(d), names(d)[1])
  })
  fits <- reactive({
    d <- data_in()
    req(!is.character(d), input$d_response %in% names(d))
    tryCatch(app_fit_data(d, input$d_response, input$d_method, input$d_norm, input$d_epsmax),
             error = function(e) conditionMessage(e))
  })
  output$d_path <- renderPlot({
    f <- fits()
    validate(need(!is.character(f), paste("The fit failed:", f)))
    k <- nrow(f$coef)
    matplot(f$eps, t(f$coef), type = "l", lty = 1, lwd = 2, col = seq_len(k),
            xlab = expression(epsilon), ylab = "coefficient (standardised predictors)",
            main = sprintf("%s paths, response %s", input$d_method, input$d_response))
    abline(h = 0, col = "grey80")
    legend("topright", rownames(f$coef), col = seq_len(k), lty = 1, bty = "n", cex = 0.8)
  })
  output$d_table <- renderTable({
    f <- fits()
    req(!is.character(f))
    signif(f$coef[, c(1, ceiling(ncol(f$coef) / 2), ncol(f$coef)), drop = FALSE], 4)
  }, rownames = TRUE)
  output$d_download <- downloadHandler(
    filename = function() "advtrain-your-data.R",
    content = function(file) {
      src <- if (input$d_source == "builtin") input$d_builtin else "upload"
      writeLines(app_code(src, input$d_response, input$d_method, input$d_norm,
                          input$d_epsmax), file)
    })
}

shinyApp(ui, server)
